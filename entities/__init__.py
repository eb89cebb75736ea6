"""Durable entities: job_progress (counters) and checkpoint (per-chunk resume state)."""

import azure.durable_functions as df

blueprint = df.Blueprint()

from entities import checkpoint, job_progress  # noqa: E402,F401  (register on the blueprint)

__all__ = ["blueprint"]
