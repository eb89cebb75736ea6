"""Activities: the units of real work (discover, download a batch, close a run, ...)."""

import azure.durable_functions as df

blueprint = df.Blueprint()

from activities import crawl  # noqa: E402,F401  (register on the blueprint)
from activities import datasets  # noqa: E402,F401
from activities import validation  # noqa: E402,F401
from activities import verify  # noqa: E402,F401

__all__ = ["blueprint"]
