"""Durable entities: job_progress (counters) and checkpoint (per-chunk resume state).

Each module registers its function with :func:`entity`, under the function's name (the names
of ``shared.workflow.Entity``).
"""

from collections.abc import Callable

import azure.durable_functions as df
from azure.functions.decorators.function_app import FunctionBuilder

blueprint = df.Blueprint()


def entity(function: Callable[[df.DurableEntityContext], None]) -> FunctionBuilder:
    """Register ``function`` as an entity on the blueprint (typed: the SDK's decorator is not)."""
    builder: FunctionBuilder = blueprint.entity_trigger(context_name="context")(function)
    return builder


from entities import checkpoint, job_progress  # noqa: E402,F401  (register on the blueprint)

__all__ = ["blueprint", "entity"]
