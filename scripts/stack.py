"""The local stack: emulators, the devhost serving function_app.py, local demo sources.

All on 127.0.0.1; the demo sources are Wikimedia Commons and Openverse look-alikes
(scripts/demo_source.py) the app's source URLs point at, so a crawl works offline.

CLI (what ``scripts/stack up|down|status`` runs)::

    python -m scripts.stack up       # start in the background, print the API's base URL
    python -m scripts.stack up --dir .local/stack-b --free-ports    # a second stack beside it
    python -m scripts.stack status   # what runs where
    python -m scripts.stack down     # stop what `up` started

Every port is an option (``--port`` for the devhost, ``--azurite-port``, ``--cosmos-port``,
``--wikimedia-port``, ``--openverse-port``; 0 picks a free one, ``--free-ports`` all of
them), and each stack keeps its state under its ``--dir`` (pids, logs, Azurite's data, the
devhost's SQLite), so two stacks with different dirs and ports run side by side. The demo
sources' generated images are a cache shared by all stacks (``--catalogue``);
``--real-sources`` leaves them out and crawls the real Wikimedia Commons and Openverse.

Python (what the tests and the demo use)::

    with Stack(Path(tmp), port=None, sources=DemoSources(labels=["cat"])) as stack:
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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from scripts.devtoken import LOCAL_SECRET
from scripts.localservices import LocalServices
from scripts.localservices import _alive as process_alive

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".local" / "stack"
DEFAULT_PORT = 7071
DEFAULT_AZURITE_PORT = 10000
DEFAULT_COSMOS_PORT = 8081
#: The sources the demo source imitates: the app's PIXCRAWLER_<NAME>_BASE_URL points at it.
DEMO_SOURCES = ("wikimedia", "openverse")
#: The demo source's fault mix: what a real crawl meets, in small doses.
DEMO_FAULTS = [
    "--duplicate", "0.03", "--near-duplicate", "0.03", "--truncated", "0.02", "--html", "0.01",
    "--not-found", "0.02", "--slow", "0.01", "--slow-delay", "1.5", "--redirect-blocked", "0.01",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(services_env: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The settings the app runs with locally: the emulators plus local-only choices."""
    env = dict(services_env)
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

    ``args`` are its CLI flags (``["--labels", "cat,dog", "--per-label", "50", ...]``); ``port``
    None picks a free one. Its output goes to files under ``directory``, so it may outlive the
    process that started it (``scripts/stack up``)."""

    def __init__(self, directory: Path, args: list[str], port: int | None = None) -> None:
        self.directory = directory
        self.args = args
        self.port = port
        self.log_path = directory / "demo_source.log"
        self.out_path = directory / "demo_source.out"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 300.0) -> "DemoSourceProcess":
        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(ROOT / "scripts" / "demo_source.py"), *self.args,
               "--port", str(self.port or 0)]  # fmt: skip
        with open(self.out_path, "wb") as out, open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd, cwd=ROOT, stdout=out, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.out_path.read_text(errors="replace").splitlines():
                if "listening on " in line:
                    self.url = line.strip().rsplit(" ", 1)[-1]
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"demo source exited {self.process.returncode}\n{tail(self.log_path)}")
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"demo source did not start within {timeout:.0f} s\n{tail(self.log_path)}")

    def get(self, path: str) -> Any:
        """JSON of one of the source's own routes (``/_demo/catalogue``, ``/_demo/requests``)."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process.pid)
            self.process.wait()
            self.process = None


@dataclass
class DemoSources:
    """Local look-alikes of the sources in :data:`DEMO_SOURCES`, one demo source process each
    (seeds 0, 1...: different images), serving ``per_label`` images for each of ``labels``.

    A query selects the label whose words it holds (``"cat photo"`` -> ``cat``): a job's
    keywords should be among ``labels``. ``ports`` maps a source to its port (missing or None:
    a free one)."""

    labels: list[str] = field(default_factory=lambda: ["cat", "dog", "bird"])
    per_label: int = 60
    faults: list[str] = field(default_factory=lambda: list(DEMO_FAULTS))
    catalogue: Path = ROOT / ".local" / "catalogue"
    ports: dict[str, int | None] = field(default_factory=dict)

    def processes(self, directory: Path) -> dict[str, DemoSourceProcess]:
        return {
            name: DemoSourceProcess(directory / name, [
                "--labels", ",".join(self.labels), "--per-label", str(self.per_label),
                "--seed", str(seed), "--dir", str(self.catalogue), *self.faults,
            ], port=self.ports.get(name))
            for seed, name in enumerate(DEMO_SOURCES)
        }  # fmt: skip


def source_env(urls: dict[str, str]) -> dict[str, str]:
    """The app settings pointing each source at its URL."""
    return {f"PIXCRAWLER_{name.upper()}_BASE_URL": url for name, url in urls.items()}


class Stack:
    """Emulators + devhost (+ demo sources when ``sources`` is given). Ports ``None`` pick free
    ones (tests); the CLI uses the defaults or the ports it is given."""

    def __init__(
        self,
        directory: Path = DEFAULT_DIR,
        *,
        port: int | None = DEFAULT_PORT,
        azurite_port: int | None = None,
        cosmos_port: int | None = None,
        extra_env: dict[str, str] | None = None,
        sources: DemoSources | None = None,
    ) -> None:
        self.directory = directory
        self.services = LocalServices(directory / "services", azurite_port=azurite_port, cosmos_port=cosmos_port)
        self.port = port
        self.extra_env = extra_env or {}
        self.sources = sources
        self.source_processes: dict[str, DemoSourceProcess] = {}
        self.source_urls: dict[str, str] = {}
        self.devhost: Devhost | None = None

    @property
    def env(self) -> dict[str, str]:
        return app_env(self.services.env, {**source_env(self.source_urls), **self.extra_env})

    @property
    def base_url(self) -> str:
        assert self.devhost is not None
        return f"{self.devhost.url}/api/v1"

    def start(self) -> "Stack":
        if self.sources is not None:
            self.source_processes = self.sources.processes(self.directory / "sources")
            for name, process in self.source_processes.items():
                self.source_urls[name] = process.start().url
        self.services.start()
        self.devhost = Devhost(self.directory / "devhost", self.env, port=self.port)
        self.devhost.start()
        return self

    def stop(self) -> None:
        if self.devhost is not None:
            self.devhost.stop()
        self.services.stop()
        for process in self.source_processes.values():
            process.stop()

    def record(self) -> dict[str, Any]:
        """What ``down`` and ``status`` need to find this stack again from another process."""
        assert self.devhost is not None and self.devhost.process is not None
        return {
            "base_url": self.base_url,
            "devhost_pid": self.devhost.process.pid,
            "azurite_port": self.services.ports["azurite"],
            "cosmos_port": self.services.ports["cosmos"],
            "sources": self.source_urls,
            "source_pids": {n: p.process.pid for n, p in self.source_processes.items() if p.process},
        }

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


def _answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _port(value: int | None) -> int | None:
    """A port option: 0 means "a free one" (None to the classes above)."""
    return value or None


def _stop_recorded(directory: Path) -> None:
    """Stop what a stack.json names, then the emulators of the directory."""
    record = _pidfile(directory)
    if record.exists():
        info = json.loads(record.read_text())
        recorded = [(info["devhost_pid"], "devhost")]
        recorded += [(pid, "demo_source") for pid in info.get("source_pids", {}).values()]
        for pid, marker in recorded:
            if process_alive(pid, marker):  # not a recycled pid of something else
                stop_process(pid)
        record.unlink()
    LocalServices(directory / "services").stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/stack", description=__doc__.splitlines()[0],
        epilog="Port 0 picks a free port. State and logs live under --dir; two stacks need two "
               "dirs and different ports.",
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="this stack's state and logs")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the devhost (API) port")
    parser.add_argument("--azurite-port", type=int, default=DEFAULT_AZURITE_PORT,
                        help="Azurite's blob port; queue and table use the next two")
    parser.add_argument("--cosmos-port", type=int, default=DEFAULT_COSMOS_PORT, help="the Cosmos DB emulator")
    for name in DEMO_SOURCES:
        parser.add_argument(f"--{name}-port", type=int, default=0, help=f"the {name} demo source")
    parser.add_argument("--free-ports", action="store_true", help="free ports for everything")
    parser.add_argument("--real-sources", action="store_true",
                        help="no demo sources: crawl the real Wikimedia Commons and Openverse")
    parser.add_argument("--demo-labels", default="cat,dog,bird", help="what the demo sources serve")
    parser.add_argument("--demo-per-label", type=int, default=60, help="images per label and source")
    parser.add_argument("--catalogue", type=Path, default=ROOT / ".local" / "catalogue",
                        help="the demo sources' image cache (shared by stacks)")
    args = parser.parse_args(argv)
    if args.free_ports:
        args.port = args.azurite_port = args.cosmos_port = 0
        for name in DEMO_SOURCES:
            setattr(args, f"{name}_port", 0)
    return args


def _up(args: argparse.Namespace) -> int:
    record = _pidfile(args.dir)
    if record.exists():
        info = json.loads(record.read_text())
        if _answers(info["base_url"]):
            print(info["base_url"])
            return 0
        print("a previous stack in this dir is not answering: restarting it", file=sys.stderr)
        _stop_recorded(args.dir)
    sources = None
    if not args.real_sources:
        sources = DemoSources(
            labels=[label.strip() for label in args.demo_labels.split(",") if label.strip()],
            per_label=args.demo_per_label, catalogue=args.catalogue,
            ports={name: _port(getattr(args, f"{name}_port")) for name in DEMO_SOURCES},
        )
    extra = {} if sources else {"PIXCRAWLER_FETCH_ALLOW_NETWORKS": ""}  # real sources: no 127.0.0.1
    args.dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(args.dir, port=_port(args.port), azurite_port=_port(args.azurite_port),
                  cosmos_port=_port(args.cosmos_port), extra_env=extra, sources=sources)
    try:
        stack.start()
    except KeyboardInterrupt:
        stack.stop()
        raise
    except Exception as exc:  # noqa: BLE001 - a message, not a traceback, for a failed start
        stack.stop()
        print(f"scripts/stack up: {exc}", file=sys.stderr)
        return 1
    record.write_text(json.dumps(stack.record(), indent=2) + "\n")
    print(stack.base_url)
    return 0


def _describe(info: dict[str, Any]) -> list[str]:
    lines = [f"api        {info['base_url']}",
             f"azurite    127.0.0.1:{info['azurite_port']} (blob; queue and table on the next two)",
             f"cosmos     https://127.0.0.1:{info['cosmos_port']}/"]
    lines += [f"{name:<10} {url}" for name, url in info.get("sources", {}).items()]
    return lines or ["(nothing)"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "up":
        return _up(args)
    if args.command == "down":
        _stop_recorded(args.dir)
        print("stack stopped")
        return 0
    record = _pidfile(args.dir)
    if record.exists():
        info = json.loads(record.read_text())
        if _answers(info["base_url"]):
            print("\n".join(_describe(info)))
            return 0
    print("stack is not running")
    return 1


if __name__ == "__main__":
    sys.exit(main())
