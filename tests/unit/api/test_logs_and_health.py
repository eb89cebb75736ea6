"""Structured log lines carry the request, user and job; health probes report, never raise."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from http_triggers._health import run_checks
from shared.logs import ContextFilter, JsonFormatter, bind

ROOT = Path(__file__).resolve().parents[3]


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, stream


def test_lines_carry_the_bound_context_and_extras() -> None:
    logger, stream = _capture()
    with bind(request_id="r-1", user_id="alice"):
        with bind(job_id="j-9"):
            logger.info("started %s", "crawl", extra={"chunk": "c1"})
        logger.warning("after")
    logger.info("outside")
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first | {"ts": None} == {
        "ts": None, "level": "INFO", "logger": logger.name, "message": "started crawl",
        "request_id": "r-1", "user_id": "alice", "job_id": "j-9", "chunk": "c1",
    }  # fmt: skip
    assert "job_id" not in second and second["user_id"] == "alice"
    assert "request_id" not in third


def test_exceptions_are_one_line_with_the_traceback() -> None:
    logger, stream = _capture()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed")
    (line,) = stream.getvalue().splitlines()
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin", **(env or {})},
    )  # fmt: skip


def test_configure_logging_writes_json_lines_to_stderr() -> None:
    done = _run(
        """
        import logging
        from shared.logs import bind, configure_logging
        configure_logging()
        configure_logging()  # idempotent
        with bind(request_id="abc"):
            logging.getLogger("pixcrawler.http").info("GET /api/v1/health -> 200")
        """
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert json.loads(line)["request_id"] == "abc"


def test_application_insights_receives_records_when_configured() -> None:
    received: list[bytes] = []

    class Ingestion(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            body = b'{"itemsReceived": 1, "itemsAccepted": 1, "errors": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        done = _run(
            """
            import logging
            from shared.logs import bind, configure_logging
            configure_logging()
            with bind(request_id="req-77", user_id="alice"):
                logging.getLogger("pixcrawler.jobs").warning("job j1 failed")
            """,
            env={
                "APPLICATIONINSIGHTS_CONNECTION_STRING":
                    f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={endpoint}",
                "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
            },
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    sent = b"".join(received).decode(errors="replace")
    assert "job j1 failed" in sent and "req-77" in sent


def test_health_report_times_each_probe_and_never_raises() -> None:
    async def ok() -> None:
        await asyncio.sleep(0.01)

    async def broken() -> None:
        raise ConnectionError("refused")

    async def hung() -> None:
        await asyncio.sleep(10)

    report = asyncio.run(run_checks({"cosmos": ok, "blob": broken, "durable": hung}, timeout=0.2))
    assert report.status == "degraded"
    assert report.checks["cosmos"].status == "ok" and report.checks["cosmos"].latency_ms >= 10
    assert report.checks["blob"].error == "ConnectionError: refused"
    assert report.checks["durable"].error == "no answer within 0.2 s"
    assert asyncio.run(run_checks({"cosmos": ok})).status == "ok"
