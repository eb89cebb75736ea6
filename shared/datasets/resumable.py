"""A SHA-256 whose running state can be saved and resumed in another process.

An archive built in parts (one activity per part) hashes its bytes across activities:
``hashlib`` objects cannot leave the process, so this one keeps OpenSSL's public
``SHA256_CTX`` (``openssl/sha.h``: 8 chaining words, bit count, a 64-byte block, its fill)
in a ctypes structure whose 112 bytes travel as base64 between activities. The library is the
``libcrypto`` Python's own ``hashlib`` is linked against.

Example::

    >>> first = ResumableSha256()
    >>> first.update(b"hello ")
    >>> later = ResumableSha256.resume(first.state())
    >>> later.update(b"world")
    >>> later.hexdigest() == hashlib.sha256(b"hello world").hexdigest()
    True
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import hashlib
from functools import lru_cache

__all__ = ["ResumableSha256"]


class _Sha256Ctx(ctypes.Structure):
    """``SHA256_CTX`` of ``openssl/sha.h``."""

    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 16),
        ("num", ctypes.c_uint32),
        ("md_len", ctypes.c_uint32),
    ]


@lru_cache(maxsize=1)
def _libcrypto() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
    ctx = ctypes.POINTER(_Sha256Ctx)
    lib.SHA256_Init.argtypes = [ctx]
    lib.SHA256_Update.argtypes = [ctx, ctypes.c_char_p, ctypes.c_size_t]
    lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctx]
    return lib


class ResumableSha256:
    """``hashlib.sha256`` with :meth:`state` / :meth:`resume` (OpenSSL speed)."""

    def __init__(self) -> None:
        self._ctx = _Sha256Ctx()
        _libcrypto().SHA256_Init(ctypes.byref(self._ctx))

    @classmethod
    def resume(cls, state: str) -> ResumableSha256:
        """The hash as :meth:`state` left it."""
        raw = base64.b64decode(state)
        if len(raw) != ctypes.sizeof(_Sha256Ctx):
            raise ValueError(f"a SHA-256 state holds {ctypes.sizeof(_Sha256Ctx)} bytes, got {len(raw)}")
        hasher = cls.__new__(cls)
        hasher._ctx = _Sha256Ctx.from_buffer_copy(raw)
        return hasher

    def state(self) -> str:
        """The running state as base64 text (152 characters)."""
        return base64.b64encode(bytes(self._ctx)).decode()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = data if isinstance(data, bytes) else bytes(data)
        _libcrypto().SHA256_Update(ctypes.byref(self._ctx), view, len(view))

    def hexdigest(self) -> str:
        """The digest of everything so far (the running state is left as it is)."""
        copy = _Sha256Ctx.from_buffer_copy(bytes(self._ctx))
        out = ctypes.create_string_buffer(32)
        _libcrypto().SHA256_Final(out, ctypes.byref(copy))
        return out.raw.hex()


# Fail at import, not in the middle of a build, if the library does not behave as declared.
_probe = ResumableSha256()
_probe.update(b"abc")
if _probe.hexdigest() != hashlib.sha256(b"abc").hexdigest():
    raise ImportError("libcrypto's SHA256_CTX does not match openssl/sha.h")
del _probe
