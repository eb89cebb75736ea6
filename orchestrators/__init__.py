"""Orchestrators: deterministic generator functions (no I/O, no clock, no randomness)."""

import azure.durable_functions as df

blueprint = df.Blueprint()

from orchestrators import crawl  # noqa: E402,F401  (register on the blueprint)
from orchestrators import datasets  # noqa: E402,F401
from orchestrators import validation  # noqa: E402,F401
from orchestrators import verify  # noqa: E402,F401

__all__ = ["blueprint"]
