"""Labels to archive path components: no user string reaches a path unsanitised.

Example::

    >>> safe_label("cat")
    'cat'
    >>> safe_label("../etc/passwd")
    'etc_passwd_7fef78f5'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["MAX_LABEL_BYTES", "safe_label"]

#: Cap on the UTF-8 length of a sanitised label, hash suffix included (a path component may
#: hold 255 bytes on every common file system; this leaves room for the file name below it).
MAX_LABEL_BYTES = 96

_HASH_HEX = 8
_SUFFIX_RE = re.compile(rf"_[0-9a-f]{{{_HASH_HEX}}}$")
_FORBIDDEN = set('/\\:*?"<>|')
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", "conin$", "conout$"} | {
    f"{device}{n}" for device in ("com", "lpt") for n in range(10)
}
_FALLBACK = "label"


def _clean_char(char: str) -> str:
    if char in _FORBIDDEN or unicodedata.category(char).startswith("C"):
        return "_"
    if char.isspace():
        return " "
    return char


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def _sanitise(label: str, limit: int) -> str:
    text = unicodedata.normalize("NFKC", label).lower()
    text = "".join(_clean_char(c) for c in text)
    text = re.sub(r" {2,}", " ", text)
    text = re.sub(r"_{2,}", "_", text)
    # Leading dots hide a folder (or make '.'/'..'); Windows drops trailing dots and spaces.
    text = text.strip(" ._")
    if text.split(".", 1)[0].strip() in _WINDOWS_RESERVED:
        text = "_" + text
    text = _truncate_utf8(text, limit).rstrip(" .")
    return text or _FALLBACK


def safe_label(label: str) -> str:
    """A safe, lower-case folder name for ``label``, distinct for distinct labels.

    Unicode is NFKC-normalised and lower-cased; slashes, backslashes, characters Windows
    forbids and control characters become ``_``; leading dots, trailing dots and spaces,
    ``.``/``..`` and Windows device names (``CON``, ``LPT1``...) cannot survive; the result
    holds at most :data:`MAX_LABEL_BYTES` UTF-8 bytes and is never empty. Whenever the result
    differs from ``label`` (or could be mistaken for such a result), ``_`` and 8 hex digits of
    the label's sha256 are appended, so two labels never share a folder, even on a
    case-insensitive file system.

    >>> safe_label("golden retriever")
    'golden retriever'
    >>> safe_label("Cat") != safe_label("cat")
    True
    """
    limit = MAX_LABEL_BYTES - (_HASH_HEX + 1)
    clean = _sanitise(label, limit)
    if clean == label and not _SUFFIX_RE.search(clean):
        return clean
    digest = hashlib.sha256(label.encode("utf-8", errors="surrogatepass")).hexdigest()
    return f"{clean}_{digest[:_HASH_HEX]}"
