"""Where the SDK and the CLI find their settings: arguments, then the environment, then the
CLI's saved config, then defaults.

=====================  ==========================================================
``PIXCRAWLER_API_KEY``   API key (sent as ``X-API-Key``)
``PIXCRAWLER_TOKEN``     bearer token (a JWT), used when no API key is set
``SERVICE_API_KEY``      API key, when neither of the two above is set (the names the
``SERVICE_API_TOKEN``    first PixCrawler documents use); then the bearer token
``PIXCRAWLER_BASE_URL``  service URL, default ``http://127.0.0.1:7071/api/v1``
``PIXCRAWLER_CONFIG``    the config file, default ``~/.config/pixcrawler/config.json``
``PIXCRAWLER_CACHE_DIR`` dataset cache, default ``~/.cache/pixcrawler``
=====================  ==========================================================

A credential that starts with ``pxc_`` is an API key wherever it is given (``auth(token=...)``,
a token variable): it is sent as ``X-API-Key``, never as a bearer token.

Example::

    from pixcrawler.config import resolve_settings
    settings = resolve_settings(api_key=None)   # from the environment or `pixcrawler login`
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "API_KEY_PREFIX",
    "DEFAULT_BASE_URL",
    "Settings",
    "cache_dir",
    "config_path",
    "is_api_key",
    "read_config",
    "resolve_settings",
    "save_config",
]

DEFAULT_BASE_URL = "http://127.0.0.1:7071/api/v1"

ENV_API_KEY = "PIXCRAWLER_API_KEY"
ENV_TOKEN = "PIXCRAWLER_TOKEN"
ENV_BASE_URL = "PIXCRAWLER_BASE_URL"
ENV_CONFIG = "PIXCRAWLER_CONFIG"
ENV_CACHE_DIR = "PIXCRAWLER_CACHE_DIR"
ENV_SERVICE_API_KEY = "SERVICE_API_KEY"
ENV_SERVICE_API_TOKEN = "SERVICE_API_TOKEN"
#: What every PixCrawler API key starts with.
API_KEY_PREFIX = "pxc_"


def is_api_key(credential: str | None) -> bool:
    """True for a PixCrawler API key (``pxc_...``), False for a bearer token.

    >>> is_api_key("pxc_0f3a_secret"), is_api_key("eyJhbGciOi..."), is_api_key(None)
    (True, False, False)
    """
    return bool(credential) and str(credential).startswith(API_KEY_PREFIX)


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings. ``api_key`` wins over ``token`` when both are set."""

    base_url: str
    api_key: str | None = None
    token: str | None = None

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key or self.token)

    def auth_headers(self) -> dict[str, str]:
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


def config_path() -> Path:
    """The CLI's config file: ``$PIXCRAWLER_CONFIG``, else ``$XDG_CONFIG_HOME/pixcrawler`` or
    ``~/.config/pixcrawler``, ``config.json``."""
    explicit = os.environ.get(ENV_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "pixcrawler" / "config.json"


def cache_dir() -> Path:
    """The dataset cache: ``$PIXCRAWLER_CACHE_DIR``, else ``$XDG_CACHE_HOME/pixcrawler`` or
    ``~/.cache/pixcrawler``."""
    explicit = os.environ.get(ENV_CACHE_DIR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pixcrawler"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The saved config (empty when there is none). A broken file is reported, not ignored."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix it or run `pixcrawler login`") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object; run `pixcrawler login` to rewrite it")
    return data


def save_config(updates: dict[str, Any], path: Path | None = None) -> Path:
    """Merge ``updates`` into the config file, readable by the owner only (it holds a key)."""
    path = path or config_path()
    data = {**read_config(path), **{k: v for k, v in updates.items() if v is not None}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def resolve_settings(
    api_key: str | None = None, token: str | None = None, base_url: str | None = None
) -> Settings:
    """Settings from the arguments, else the environment (``PIXCRAWLER_*``, then
    ``SERVICE_API_KEY``/``SERVICE_API_TOKEN``), else the saved config. A ``pxc_`` token is an
    API key."""
    saved = read_config() if not (api_key or token) or not base_url else {}
    explicit_credential = bool(api_key or token)
    if not explicit_credential:
        for key_name, token_name in ((ENV_API_KEY, ENV_TOKEN), (ENV_SERVICE_API_KEY, ENV_SERVICE_API_TOKEN)):
            api_key = os.environ.get(key_name) or None
            token = os.environ.get(token_name) or None
            if api_key or token:
                break
        if not (api_key or token):
            api_key = saved.get("api_key") or None
            token = saved.get("token") or None
    if is_api_key(token):
        api_key, token = api_key or token, None
    url = base_url or os.environ.get(ENV_BASE_URL) or saved.get("base_url") or DEFAULT_BASE_URL
    return Settings(base_url=str(url).rstrip("/"), api_key=api_key, token=token)
