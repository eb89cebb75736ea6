"""Fixtures: a shared devhost for the suite, and private ones for restarts and settings."""
from pathlib import Path

import pytest

from devhost_harness import APP, Devhost


@pytest.fixture(scope="session")
def host(tmp_path_factory):
    devhost = Devhost(tmp_path_factory.mktemp("devhost")).start()
    yield devhost
    devhost.stop()


@pytest.fixture
def fresh_host(tmp_path):
    """A devhost of its own (for restarts, kills and settings)."""
    hosts = []

    def make(app: Path = APP, **env: str) -> Devhost:
        devhost = Devhost(tmp_path, app, **env)
        hosts.append(devhost)
        return devhost
    yield make
    for devhost in hosts:
        devhost.stop()
