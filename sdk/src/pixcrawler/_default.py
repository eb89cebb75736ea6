"""The shared :class:`~pixcrawler.Client` behind the module-level functions."""

from __future__ import annotations

import threading

from pixcrawler.client import Client

_lock = threading.Lock()
_client: Client | None = None


def get_client() -> Client:
    """The client set by :func:`pixcrawler.auth`, or one from the environment and config."""
    global _client
    with _lock:
        if _client is None:
            _client = Client()
        return _client


def set_client(client: Client) -> Client:
    """Replace the shared client (closing the previous one)."""
    global _client
    with _lock:
        previous, _client = _client, client
    if previous is not None:
        previous.close()
    return client
