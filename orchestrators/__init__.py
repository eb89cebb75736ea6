"""Orchestrators: deterministic generator functions (no I/O, no clock, no randomness).

Each module registers its functions with :func:`orchestrator`, under the function's name (the
names of ``shared.workflow.Orchestrator``).
"""

from collections.abc import Callable

import azure.durable_functions as df
from azure.functions.decorators.function_app import FunctionBuilder

from shared.workflow import Orchestration

blueprint = df.Blueprint()


def orchestrator(function: Callable[[df.DurableOrchestrationContext], Orchestration]) -> FunctionBuilder:
    """Register ``function`` as an orchestrator on the blueprint (typed: the SDK's decorator is not)."""
    builder: FunctionBuilder = blueprint.orchestration_trigger(context_name="context")(function)
    return builder


from orchestrators import crawl  # noqa: E402,F401  (register on the blueprint)
from orchestrators import datasets  # noqa: E402,F401
from orchestrators import validation  # noqa: E402,F401
from orchestrators import verify  # noqa: E402,F401

__all__ = ["blueprint", "orchestrator"]
