"""Fixtures of the SDK tests: the contract server, a client on it, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pixcrawler import Client
from sdk_contract_server import API_KEY, ContractServer, ContractState


@pytest.fixture(scope="session")
def contract_server() -> Iterator[ContractServer]:
    server = ContractServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(contract_server: ContractServer) -> ContractState:
    """The server's state, fresh for each test."""
    return contract_server.reset()


@pytest.fixture
def sdk_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, contract_server: ContractServer) -> dict[str, str]:
    """An environment pointing the SDK at the contract server, with its own config and cache."""
    env = {
        "PIXCRAWLER_BASE_URL": contract_server.base_url,
        "PIXCRAWLER_API_KEY": API_KEY,
        "PIXCRAWLER_CONFIG": str(tmp_path / "config" / "config.json"),
        "PIXCRAWLER_CACHE_DIR": str(tmp_path / "cache"),
    }
    monkeypatch.delenv("PIXCRAWLER_TOKEN", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def client(api: ContractState, sdk_env: dict[str, str]) -> Iterator[Client]:
    """A client with fast backoff (the retry tests that need real waits make their own)."""
    with Client(backoff=0.01) as c:
        yield c


CliRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def cli(sdk_env: dict[str, str], api: ContractState) -> CliRunner:
    """Runs ``python -m pixcrawler ARGS`` in a subprocess, as a user's shell would, with the
    test's environment (``env=`` adds or overrides variables; None removes one)."""

    def run(*args: str, env: dict[str, str | None] | None = None, stdin: str = "",
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PIXCRAWLER_")}
        full_env.update(sdk_env)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        return subprocess.run(
            [sys.executable, "-m", "pixcrawler", *args], input=stdin, capture_output=True,
            text=True, env=full_env, timeout=timeout,
        )

    return run
