"""Health checks of the backing services: each probe timed, bounded, and never raising.

Example::

    report = await run_checks({"cosmos": probe_cosmos, "blob": probe_blob}, timeout=5)
    report.status                    # "ok", or "degraded" when any probe failed
    report.checks["cosmos"].latency_ms
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from shared.models import CheckStatus, DependencyCheck, HealthReport

Probe = Callable[[], Awaitable[object]]


async def timed(probe: Probe, timeout: float) -> DependencyCheck:
    """Run one probe: ok with its latency, or error with what went wrong (timeouts too)."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout)
    except Exception as exc:  # noqa: BLE001 - a failing dependency is a result, not an error
        reason = (
            f"no answer within {timeout:g} s"
            if isinstance(exc, TimeoutError)
            else f"{type(exc).__name__}: {exc}"
        )
        return DependencyCheck(
            status=CheckStatus.error, latency_ms=_since(started), error=reason[:500]
        )
    return DependencyCheck(status=CheckStatus.ok, latency_ms=_since(started))


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def run_checks(probes: Mapping[str, Probe], *, timeout: float = 5.0) -> HealthReport:
    """Run every probe concurrently; the report is "ok" only when all of them are."""
    names = list(probes)
    results = await asyncio.gather(*(timed(probes[name], timeout) for name in names))
    checks = dict(zip(names, results))
    healthy = all(check.status is CheckStatus.ok for check in results)
    return HealthReport(status="ok" if healthy else "degraded", checks=checks)
