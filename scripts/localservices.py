"""Start and stop the local stand-ins for Azure Storage (Azurite) and Cosmos DB (cosmosdb-server).

Both run in the background on 127.0.0.1 with their pid files, logs and data in one directory,
so that another process (``down``, ``status``) finds them again. The environment they need is
printed as ``KEY=VALUE`` lines: the same app settings the Function App reads on Azure, pointing
at the emulators.

Data survives ``down``/``up`` and a SIGKILL of either service: both write a journal before
they answer (our patches in scripts/node/patches): ``DIR/cosmos/journal.jsonl`` for Cosmos (the
upstream server keeps documents in memory only), ``DIR/azurite/*.journal.N`` beside Azurite's
metadata files (which Azurite itself saves every 5 s only). Delete DIR to start empty.

CLI::

    python -m scripts.localservices up      [--dir .local/services] [--azurite-port 10000]
                                            [--cosmos-port 8081]
    python -m scripts.localservices env     [--export]   # eval "$(... env --export)"
    python -m scripts.localservices status
    python -m scripts.localservices down

Python (tests)::

    with LocalServices(tmp_path) as services:     # free ports, stopped on exit
        os.environ.update(services.env)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "scripts" / "node" / "node_modules" / ".bin"
SETUP = ROOT / "scripts" / "setup"
DEFAULT_DIR = ROOT / ".local" / "services"
HOST = "127.0.0.1"

#: Azurite's documented development account (public, accepted by Azurite only).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
#: The Cosmos DB emulator's documented key (public; cosmosdb-server only needs valid base64).
COSMOS_EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)


class LocalServicesError(RuntimeError):
    """A stand-in could not be installed, started or stopped; the message says what to do."""


def ensure_node_packages() -> None:
    """Install (or check) the patched node packages through ``scripts/setup --node-only``."""
    result = subprocess.run(
        ["bash", str(SETUP), "--node-only"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LocalServicesError(
            "the local Azure stand-ins are not installed and `scripts/setup --node-only` failed "
            f"(exit {result.returncode}); run scripts/setup and read its output:\n"
            + (result.stdout + result.stderr)[-2000:]
        )


def free_port_block(count: int, avoid: set[int] | frozenset[int] = frozenset(),
                    attempts: int = 50) -> int:  # fmt: skip
    """First port of ``count`` consecutive ports that are free on 127.0.0.1 right now and not
    in ``avoid`` (ports promised to a service that has not bound them yet)."""
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            first = int(probe.getsockname()[1])
        block = range(first, first + count)
        if block.stop > 65536 or avoid.intersection(block):
            continue
        if all(_port_free(port) for port in block):
            return first
    raise LocalServicesError(f"found no {count} consecutive free ports on {HOST}")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def _answers(port: int, tls: bool) -> bool:
    """True when an HTTP(S) server answers ``GET /`` on the port (any status)."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the emulator's certificate is self-signed
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            HOST, port, timeout=2, context=context
        )
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _alive(pid: int, marker: str) -> bool:
    """True when ``pid`` is a live (not zombie) process whose command line names ``marker``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return marker in cmdline and state != "Z"


@dataclass(frozen=True)
class _Service:
    """One background process: how to start it and how to see that it answers."""

    name: str
    marker: str
    port_count: int
    tls: bool

    def command(self, port: int, directory: Path) -> list[str]:
        if self.name == "azurite":
            data = directory / "azurite"
            data.mkdir(parents=True, exist_ok=True)
            return [
                str(NODE_BIN / "azurite"),
                "--silent", "--skipApiVersionCheck", "--disableTelemetry",
                "--location", str(data),
                "--blobHost", HOST, "--blobPort", str(port),
                "--queueHost", HOST, "--queuePort", str(port + 1),
                "--tableHost", HOST, "--tablePort", str(port + 2),
            ]  # fmt: skip
        # --keep-alive (our patch): the emulator otherwise closes every connection, and each
        # request pays a new TLS handshake -- a local artefact real Cosmos DB does not have.
        # --data (our patch): a journal of every write, replayed at start, so documents survive
        # a stop, a restart and a SIGKILL (upstream keeps them in memory only).
        return [
            str(NODE_BIN / "cosmosdb-server"), "--host", HOST, "--port", str(port), "--keep-alive",
            "--data", str(directory / "cosmos"),
        ]  # fmt: skip

    def ready(self, port: int) -> bool:
        return all(_answers(port + offset, self.tls) for offset in range(self.port_count))


AZURITE = _Service("azurite", marker="azurite", port_count=3, tls=False)
COSMOS = _Service("cosmos", marker="cosmosdb-server", port_count=1, tls=True)
SERVICES = (AZURITE, COSMOS)


class LocalServices:
    """Azurite and cosmosdb-server as background processes whose state lives in ``directory``.

    ``None`` ports mean: the ports of the services already running from this directory, else
    free ones. ``start()`` is idempotent; ``stop()`` stops what a pid file names, even when
    another process started it.

    Example::

        services = LocalServices(".local/services", azurite_port=10000, cosmos_port=8081)
        env = services.start()      # {"PIXCRAWLER_COSMOS_ENDPOINT": "https://127.0.0.1:8081/", ...}
        services.stop()
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        azurite_port: int | None = None,
        cosmos_port: int | None = None,
        *,
        start_timeout: float = 60.0,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.start_timeout = start_timeout
        saved = self._saved_ports()
        self.ports: dict[str, int | None] = {
            AZURITE.name: azurite_port if azurite_port is not None else saved.get(AZURITE.name),
            COSMOS.name: cosmos_port if cosmos_port is not None else saved.get(COSMOS.name),
        }
        self._requested = {AZURITE.name: azurite_port, COSMOS.name: cosmos_port}
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._exit_codes: dict[str, int] = {}

    # ---------------------------------------------------------------------------- files
    def _file(self, name: str) -> Path:
        return self.directory / name

    def _saved_ports(self) -> dict[str, int]:
        try:
            saved = json.loads(self._file("ports.json").read_text())
            return {name: int(port) for name, port in saved.items() if port is not None}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def _pid(self, service: _Service) -> int | None:
        try:
            pid = int(self._file(f"{service.name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid, service.marker) else None

    # ------------------------------------------------------------------------- lifecycle
    def start(self) -> dict[str, str]:
        """Start both services unless they already run; wait until they answer; return env."""
        ensure_node_packages()
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            pending = [service for service in SERVICES if not self._already_running(service)]
            for attempt in range(3):
                for service in pending:  # launch all, then wait: they start side by side
                    self._launch(service, attempt)
                failed = [service for service in pending if not self._wait_ready(service)]
                for service in failed:
                    self._stop_one(service, timeout=5.0)
                if not failed:
                    return self.env
                if any(self._requested[service.name] is not None for service in failed):
                    break  # a port the caller chose: trying others would surprise them
                pending = failed
            raise self._failure(failed[0])
        except BaseException:
            self.stop()
            raise

    def _already_running(self, service: _Service) -> bool:
        pid, port = self._pid(service), self.ports[service.name]
        if pid is None:
            return False
        requested = self._requested[service.name]
        if port is not None and requested in (None, port) and service.ready(port):
            return True
        self._stop_one(service, timeout=10.0)  # stale, or asked to move to another port
        return False

    def _launch(self, service: _Service, attempt: int) -> None:
        port = self._requested[service.name]
        if port is None:  # an earlier run's port first, then free ones no other service took
            taken = {p + i for p in self.ports.values() if p is not None for i in range(3)}
            earlier = self.ports[service.name] if attempt == 0 else None
            port = earlier or free_port_block(service.port_count, avoid=taken)
        self.ports[service.name] = port
        with self._file(f"{service.name}.log").open("ab") as log:
            child = subprocess.Popen(
                service.command(port, self.directory),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,  # outlives `up`; its group is stopped as one
            )
        self._children[service.name] = child
        self._exit_codes.pop(service.name, None)
        self._file(f"{service.name}.pid").write_text(f"{child.pid}\n")
        self._file("ports.json").write_text(json.dumps(self.ports))

    def _wait_ready(self, service: _Service) -> bool:
        child, port = self._children[service.name], self.ports[service.name]
        assert port is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if service.ready(port):
                return True
            if child.poll() is not None:
                self._exit_codes[service.name] = child.returncode
                return False
            time.sleep(0.1)
        return False

    def _failure(self, service: _Service) -> LocalServicesError:
        log = self._file(f"{service.name}.log")
        code = self._exit_codes.get(service.name)
        outcome = (
            f"exited with code {code}" if code is not None
            else f"did not answer within {self.start_timeout:.0f}s"
        )  # fmt: skip
        return LocalServicesError(
            f"{service.name} on {HOST}:{self.ports[service.name]} {outcome} (is a port taken?). "
            f"Log {log}:\n{log.read_text(errors='replace')[-1500:]}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both services: SIGTERM to each process group, SIGKILL after ``timeout``."""
        for service in SERVICES:
            self._stop_one(service, timeout)

    def _stop_one(self, service: _Service, timeout: float) -> None:
        child = self._children.pop(service.name, None)
        running = child is not None and child.poll() is None
        pid = child.pid if child is not None and running else self._pid(service)
        if pid is not None:
            self._signal(pid, signal.SIGTERM)
            if not self._wait_gone(service, pid, child, timeout):
                self._signal(pid, signal.SIGKILL)
                if not self._wait_gone(service, pid, child, 5.0):
                    raise LocalServicesError(f"{service.name} (pid {pid}) survived SIGKILL")
        self._file(f"{service.name}.pid").unlink(missing_ok=True)

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)  # started with start_new_session: its group id is its pid
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)

    @staticmethod
    def _wait_gone(
        service: _Service, pid: int, child: subprocess.Popen[bytes] | None, timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # our own child is reaped by poll(); another process's is checked through /proc
            gone = child.poll() is not None if child else not _alive(pid, service.marker)
            if gone:
                return True
            time.sleep(0.05)
        return False

    def kill(self, name: str) -> None:
        """SIGKILL one service (``"azurite"`` or ``"cosmos"``), as a crash would: no chance to
        flush anything. Its data directory stays; ``start()`` brings it back on its port."""
        service = next(s for s in SERVICES if s.name == name)
        child = self._children.pop(name, None)
        pid = child.pid if child is not None and child.poll() is None else self._pid(service)
        if pid is not None:
            self._signal(pid, signal.SIGKILL)
            if not self._wait_gone(service, pid, child, 5.0):
                raise LocalServicesError(f"{name} (pid {pid}) survived SIGKILL")
        self._file(f"{name}.pid").unlink(missing_ok=True)

    def status(self) -> dict[str, int | None]:
        """Service name -> pid of its running process, or None when it is not running."""
        return {service.name: self._pid(service) for service in SERVICES}

    # ------------------------------------------------------------------------------- env
    @property
    def env(self) -> dict[str, str]:
        """The app settings that point the app at these services (ports must be known)."""
        azurite, cosmos = self.ports[AZURITE.name], self.ports[COSMOS.name]
        if azurite is None or cosmos is None:
            raise LocalServicesError("ports are not known yet: call start() first")
        return environment(azurite, cosmos)

    def __enter__(self) -> LocalServices:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def azurite_connection_string(blob_port: int) -> str:
    """Connection string of Azurite's dev account with blob/queue/table on consecutive ports."""
    endpoints = {"Blob": blob_port, "Queue": blob_port + 1, "Table": blob_port + 2}
    parts = ["DefaultEndpointsProtocol=http", f"AccountName={AZURITE_ACCOUNT}",
             f"AccountKey={AZURITE_KEY}"]  # fmt: skip
    parts += [f"{kind}Endpoint=http://{HOST}:{port}/{AZURITE_ACCOUNT}" for kind, port in
              endpoints.items()]  # fmt: skip
    return ";".join(parts) + ";"


def environment(azurite_port: int, cosmos_port: int) -> dict[str, str]:
    """The environment for services on these ports (the names the Function App reads)."""
    connection_string = azurite_connection_string(azurite_port)
    return {
        "PIXCRAWLER_COSMOS_ENDPOINT": f"https://{HOST}:{cosmos_port}/",
        "PIXCRAWLER_COSMOS_KEY": COSMOS_EMULATOR_KEY,
        "PIXCRAWLER_COSMOS_VERIFY_TLS": "false",
        "PIXCRAWLER_BLOB_CONNECTION_STRING": connection_string,
        "AzureWebJobsStorage": connection_string,
    }


# ----------------------------------------------------------------------------------- CLI
def _print_env(env: dict[str, str], export: bool) -> None:
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}" if export else f"{key}={value}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scripts.localservices``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.localservices", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["up", "down", "env", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state, logs and data")
    parser.add_argument(
        "--azurite-port",
        type=int,
        default=None,
        help="blob port; queue and table use the next two (default 10000)",
    )
    parser.add_argument("--cosmos-port", type=int, default=None, help="default 8081")
    parser.add_argument("--export", action="store_true", help="print `export K='V'` lines")
    args = parser.parse_args(argv)

    probe = LocalServices(args.dir)
    azurite_port = args.azurite_port or probe.ports[AZURITE.name] or 10000
    cosmos_port = args.cosmos_port or probe.ports[COSMOS.name] or 8081
    services = LocalServices(args.dir, azurite_port, cosmos_port)
    try:
        if args.command == "up":
            _print_env(services.start(), args.export)
        elif args.command == "env":
            _print_env(services.env, args.export)
        elif args.command == "down":
            services.stop()
            print(f"stopped local services in {services.directory}", file=sys.stderr)
        else:
            running = services.status()
            for name, pid in running.items():
                state = f"running (pid {pid})" if pid else "stopped"
                print(f"{name}: {state}, port {services.ports[name]}")
            return 0 if all(running.values()) else 3
    except LocalServicesError as exc:
        print(f"localservices: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
