"""API key material: a new key (shown once), its stored hash, the id inside a presented key,
and the constant-time check; and the name of the admin role.

Example::

    created = new_api_key()          # created.key is shown once; created.key_hash is stored
    api_key_matches(created.key, created.key_hash)   # True
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from shared.errors import Unauthorized

#: The role that lets a caller act on every user's resources.
ADMIN_ROLE = "admin"


#: Every API key starts with this, so leaked keys are recognisable (secret scanners, logs).
API_KEY_PREFIX = "pxc_"
_API_KEY = re.compile(r"^pxc_([0-9a-f]{16})_([A-Za-z0-9_-]{32,128})$")


@dataclass(frozen=True)
class NewApiKey:
    """A freshly generated key: its id, the full key (shown once) and the hash to store."""

    key_id: str
    key: str
    key_hash: str


def hash_api_key(key: str) -> str:
    """The stored form of a key: sha256 of the whole key (the key has 256 bits of entropy,
    so a fast hash is enough; no salt is needed to stop precomputation)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> NewApiKey:
    """A new random key ``pxc_<16 hex id>_<43 url-safe chars>``.

    >>> k = new_api_key()
    >>> parse_api_key(k.key) == k.key_id and hash_api_key(k.key) == k.key_hash
    True
    """
    key_id = secrets.token_hex(8)
    key = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key_id=key_id, key=key, key_hash=hash_api_key(key))


def parse_api_key(key: str) -> str:
    """The key id inside a presented key; 401 when it does not look like one of ours."""
    match = _API_KEY.match(key.strip())
    if match is None:
        raise Unauthorized(
            f"The API key is malformed: keys look like '{API_KEY_PREFIX}<id>_<secret>'.",
            error_code="api_key_invalid",
        )
    return match.group(1)


def api_key_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with the stored hash."""
    return hmac.compare_digest(hash_api_key(key.strip()), stored_hash)
