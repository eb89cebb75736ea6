"""scripts/services: up prints the env, status sees both services, down stops them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scripts.localservices import ROOT, free_port_block

pytestmark = pytest.mark.integration


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "services"), *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip


def test_up_status_env_down(tmp_path: Path) -> None:
    azurite, cosmos = free_port_block(3), free_port_block(1)
    where = ["--dir", str(tmp_path)]

    up = run("up", *where, "--azurite-port", str(azurite), "--cosmos-port", str(cosmos))
    try:
        env = dict(line.split("=", 1) for line in up.stdout.splitlines())
        status = run("status", *where)
        again = run("env", *where)  # the ports come from the running services' state
    finally:
        down = run("down", *where)

    assert up.returncode == 0, up.stderr
    assert env["PIXCRAWLER_COSMOS_ENDPOINT"] == f"https://127.0.0.1:{cosmos}/"
    assert f"BlobEndpoint=http://127.0.0.1:{azurite}/devstoreaccount1" in env["AzureWebJobsStorage"]
    assert f"TableEndpoint=http://127.0.0.1:{azurite + 2}/" in env["AzureWebJobsStorage"]
    assert env["PIXCRAWLER_BLOB_CONNECTION_STRING"] == env["AzureWebJobsStorage"]
    assert status.returncode == 0 and status.stdout.count("running (pid") == 2
    assert again.stdout == up.stdout
    assert down.returncode == 0
    stopped = run("status", *where)
    assert stopped.returncode == 3 and stopped.stdout.count(": stopped") == 2
