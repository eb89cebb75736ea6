"""`scripts/stack up` takes every port as an option (or picks free ones) and keeps its state
under its --dir: two stacks run side by side, and `down` of one leaves the other up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.devtoken import LOCAL_SECRET
from scripts.localservices import free_port_block
from scripts.stack import ROOT, free_port
from http_triggers._tokens import issue_dev_token

pytestmark = pytest.mark.integration

#: Small catalogues: the test is about ports and state, not crawling.
DEMO = ["--demo-labels", "cat", "--demo-per-label", "4", "--catalogue", str(ROOT / ".local" / "catalogue-tests")]


def stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scripts.stack", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=os.environ.copy())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def pids(directory: Path) -> list[int]:
    record = json.loads((directory / "stack.json").read_text())
    services = [int((directory / "services" / f"{name}.pid").read_text()) for name in ("azurite", "cosmos")]
    return [record["devhost_pid"], *record["source_pids"].values(), *services]


def answers(base_url: str) -> bool:
    token = issue_dev_token("stack-test", secret=LOCAL_SECRET)
    try:
        health = httpx.get(f"{base_url}/health", timeout=10)
        jobs = httpx.get(f"{base_url}/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except httpx.TransportError:
        return False
    return health.status_code == 200 and jobs.status_code == 200


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    a, b = tmp_path / "a", tmp_path / "b"
    yield a, b
    for directory in (a, b):
        stack("down", "--dir", str(directory))


def test_two_stacks_run_side_by_side_and_down_stops_only_its_own(dirs: tuple[Path, Path]) -> None:
    a, b = dirs
    up_a = stack("up", "--dir", str(a), "--free-ports", *DEMO)
    assert up_a.returncode == 0, up_a.stderr
    ports = {"--port": free_port(), "--azurite-port": free_port_block(3), "--cosmos-port": free_port(),
             "--wikimedia-port": free_port(), "--openverse-port": free_port()}
    up_b = stack("up", "--dir", str(b), *[str(v) for kv in ports.items() for v in kv], *DEMO)
    assert up_b.returncode == 0, up_b.stderr

    url_a, url_b = up_a.stdout.strip(), up_b.stdout.strip()
    assert url_b == f"http://127.0.0.1:{ports['--port']}/api/v1" and url_a != url_b
    assert answers(url_a) and answers(url_b)
    status_b = stack("status", "--dir", str(b)).stdout
    assert f"127.0.0.1:{ports['--azurite-port']} " in status_b and f"127.0.0.1:{ports['--cosmos-port']}/" in status_b
    for name in ("wikimedia", "openverse"):
        source = f"http://127.0.0.1:{ports[f'--{name}-port']}"
        assert f"{name:<10} {source}" in status_b
        assert httpx.get(f"{source}/_demo/catalogue", timeout=10).json()["items"]
    for directory in (a, b):  # each stack's state is under its own dir
        assert (directory / "devhost" / "devhost.sqlite").exists()
        assert (directory / "services" / "azurite").is_dir()
    a_pids, b_pids = pids(a), pids(b)
    assert not set(a_pids) & set(b_pids)

    assert stack("up", "--dir", str(a), "--free-ports", *DEMO).stdout.strip() == url_a  # already up

    down = stack("down", "--dir", str(a))
    assert down.returncode == 0 and "stack stopped" in down.stdout
    assert not any(alive(pid) for pid in a_pids)
    assert stack("status", "--dir", str(a)).returncode == 1 and not answers(url_a)
    assert all(alive(pid) for pid in b_pids) and answers(url_b)
    assert stack("status", "--dir", str(b)).returncode == 0
