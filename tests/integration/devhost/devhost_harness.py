"""A real devhost subprocess on a free port, and small HTTP helpers to talk to it."""
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

REPO = Path(__file__).resolve().parents[3]
APP = Path(__file__).resolve().parent / "app"
FUNCTION_KEY, MASTER_KEY = "test-function-key", "test-master-key"
YEARLY = "0 0 0 1 1 *"


class Devhost:
    """One `python -m devhost` process; restartable on the same state file."""

    def __init__(self, workdir: Path, app: Path = APP, **env: str) -> None:
        self.workdir = workdir
        self.app = app
        self.state = workdir / "state.sqlite"
        self.scratch = workdir / "scratch"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "DEVHOST_TEST_SCRATCH": str(self.scratch),
                    "TICK_SCHEDULE": YEARLY, "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
                    "DEVHOST_MASTER_KEY": MASTER_KEY, **env}
        self.proc: Optional[subprocess.Popen] = None
        self.base = ""
        self.starts = 0

    def start(self, *extra: str) -> "Devhost":
        self.starts += 1
        log = open(self.workdir / f"devhost-{self.starts}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--app", str(self.app), "--port", "0",
             "--state", str(self.state), *extra],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True,
            start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("devhost listening on "):
                    self.base = line.split()[-1]
                    return self
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"devhost did not start; see {log.name}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL the host and its replay worker processes, as a crash of its machine would
        (killing the host alone would leave its --workers processes behind)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    # ---------------------------------------------------------------- HTTP
    def request(self, method: str, path: str, body: Any = None,
                headers: Optional[Dict[str, str]] = None,
                raw: Optional[bytes] = None) -> Tuple[int, Any, bytes]:
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> Tuple[int, Any]:
        status, _, data = self.request(method, path, body, **kw)
        return status, (json.loads(data) if data else None)

    def client(self, **args: Any) -> Any:
        """Run one DurableOrchestrationClient call inside the app (see client_op)."""
        status, body = self.json("POST", "/api/client", args)
        assert status in (200, 409), (status, body)
        return body

    def start_orchestration(self, name: str, input_: Any = None,
                            instance_id: Optional[str] = None) -> str:
        path = f"/api/start/{name}" + (f"/{instance_id}" if instance_id else "")
        status, body = self.json("POST", path, input_)
        assert status == 202, (status, body)
        return body["id"]

    def status(self, instance_id: str, query: str = "") -> Dict[str, Any]:
        return self.json("GET", f"/runtime/webhooks/durabletask/instances/{instance_id}"
                                f"{query}")[1]

    def wait(self, instance_id: str, timeout: float = 60,
             until: Tuple[str, ...] = ("Completed", "Failed", "Terminated")) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(instance_id)
            if status and status.get("runtimeStatus") in until:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"{instance_id} still {status}")
            time.sleep(0.05)

    def wait_for(self, predicate, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached")
            time.sleep(0.05)

    def entity(self, name: str, key: str) -> Tuple[int, Any]:
        return self.json("GET", f"/runtime/webhooks/durabletask/entities/{name}/{key}")

    def entity_state(self, name: str, key: str) -> Any:
        """The entity's state, or None while it does not exist."""
        status, state = self.entity(name, key)
        return state if status == 200 else None
