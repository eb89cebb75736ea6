"""The local stack: emulators + the devhost serving function_app.py, on 127.0.0.1.

CLI (what ``scripts/stack up|down|status`` runs)::

    python -m scripts.stack up      # start in the background, print the API's base URL
    python -m scripts.stack down    # stop what `up` started

Python (what the tests and the demo use)::

    with Stack(Path(tmp), port=None) as stack:     # None: pick free ports
        stack.base_url                              # http://127.0.0.1:PORT/api/v1
        stack.env                                   # the settings the app runs with

Everything is started on 127.0.0.1, its state and logs kept under one directory, and stopped
again (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from scripts.devtoken import LOCAL_SECRET
from scripts.localservices import LocalServices

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".local" / "stack"
DEFAULT_PORT = 7071


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The app's error body (README, "Every error has one shape") as a devhost template: the
#: devhost's own answers -- no route, wrong method, body, URL or headers too large -- take
#: the same shape (devhost/errors.py).
ERROR_BODY_TEMPLATE = {
    "message": "{message}",
    "details": [{"detail": "{message}", "error_code": "{code}", "field": None}],
    "request_id": "{request_id}",
}


def app_env(services_env: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The settings the app runs with locally: the emulators plus local-only choices."""
    env = dict(services_env)
    env.setdefault("DEVHOST_ERROR_BODY", json.dumps(ERROR_BODY_TEMPLATE))
    env.setdefault("DEVHOST_REQUEST_ID_HEADER", "X-Request-ID")
    env.setdefault("PIXCRAWLER_AUTH_HS256_SECRET", LOCAL_SECRET)
    env.setdefault("PIXCRAWLER_FETCH_ALLOW_NETWORKS", "127.0.0.1/32")
    env.setdefault("PIXCRAWLER_TASK_HUB", "pixcrawler")
    env.setdefault("PIXCRAWLER_VALIDATION_PACING", "false")  # no rate limit on one machine
    env.update(extra or {})
    return env


class Devhost:
    """A devhost process serving ``app_dir`` (default: this project)."""

    def __init__(
        self,
        directory: Path,
        env: dict[str, str],
        *,
        port: int | None = None,
        app_dir: Path = ROOT,
        workers: int | None = None,
    ) -> None:
        self.directory = directory
        self.env = env
        self.port = port or free_port()
        self.app_dir = app_dir
        self.workers = workers
        self.state = directory / "devhost.sqlite"
        self.log_path = directory / "devhost.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "devhost", "--app", str(self.app_dir),
            "--host", "127.0.0.1", "--port", str(self.port), "--state", str(self.state),
        ]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=log,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        wait_http(f"{self.url}/admin/host/status", timeout, self.process, self.log_path)

    def kill(self) -> None:
        """SIGKILL, as a crash would (the state file survives)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process:
            stop_process(self.process.pid)
            self.process.wait()
            self.process = None


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the log's tail if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: process exited {process.returncode}\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s\n{tail(log)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                pass
            time.sleep(0.05)


class DemoSourceProcess:
    """scripts/demo_source.py in its own process: a local search source with its catalogue.

    ``args`` are its CLI flags (``["--labels", "cat,dog", "--per-label", "50", ...]``)."""

    def __init__(self, directory: Path, args: list[str]) -> None:
        self.directory = directory
        self.args = args
        self.log_path = directory / "demo_source.log"
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 300.0) -> "DemoSourceProcess":
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "demo_source.py"), "--port", "0", *self.args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )
        log.close()
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError(f"demo source exited {self.process.returncode}\n{tail(self.log_path)}")
            if "listening on " in line:
                self.url = line.strip().rsplit(" ", 1)[-1]
                return self
        raise TimeoutError(f"demo source did not start within {timeout:.0f} s")

    def get(self, path: str) -> object:
        """JSON of one of the source's own routes (``/_demo/catalogue``, ``/_demo/requests``)."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process.pid)
            self.process.wait()
            self.process = None


class Stack:
    """Emulators + devhost. Ports ``None`` pick free ones (tests); the CLI uses the defaults."""

    def __init__(
        self,
        directory: Path = DEFAULT_DIR,
        *,
        port: int | None = DEFAULT_PORT,
        azurite_port: int | None = None,
        cosmos_port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.services = LocalServices(directory / "services", azurite_port=azurite_port, cosmos_port=cosmos_port)
        self.port = port
        self.extra_env = extra_env or {}
        self.devhost: Devhost | None = None

    @property
    def env(self) -> dict[str, str]:
        return app_env(self.services.env, self.extra_env)

    @property
    def base_url(self) -> str:
        assert self.devhost is not None
        return f"{self.devhost.url}/api/v1"

    def start(self) -> "Stack":
        self.services.start()
        self.devhost = Devhost(self.directory / "devhost", self.env, port=self.port)
        self.devhost.start()
        return self

    def stop(self) -> None:
        if self.devhost is not None:
            self.devhost.stop()
        self.services.stop()

    def __enter__(self) -> "Stack":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _pidfile(directory: Path) -> Path:
    return directory / "stack.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    record = _pidfile(args.dir)
    if args.command == "up":
        if record.exists():
            print(json.loads(record.read_text())["base_url"])
            return 0
        stack = Stack(args.dir, port=args.port, azurite_port=10000, cosmos_port=8081)
        stack.start()
        assert stack.devhost and stack.devhost.process
        info = {"base_url": stack.base_url, "devhost_pid": stack.devhost.process.pid}
        record.write_text(json.dumps(info))
        print(stack.base_url)
        return 0
    if args.command == "down":
        if record.exists():
            stop_process(json.loads(record.read_text())["devhost_pid"])
            record.unlink()
        LocalServices(args.dir / "services", azurite_port=10000, cosmos_port=8081).stop()
        print("stack stopped")
        return 0
    if record.exists():
        print(json.loads(record.read_text())["base_url"])
        return 0
    print("stack is not running")
    return 1


if __name__ == "__main__":
    sys.exit(main())
