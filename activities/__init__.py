"""Activities: the units of real work (discover, download a batch, close a run, ...).

Each module registers its functions with :func:`activity`: a JSON payload in, a JSON result
out (the JSON of a ``shared.models`` model), under the function's name (the names of
``shared.workflow.Activity``).
"""

from collections.abc import Awaitable, Callable
from typing import Any

import azure.durable_functions as df
from azure.functions.decorators.function_app import FunctionBuilder

blueprint = df.Blueprint()

#: An activity function: a JSON payload in, a JSON result out.
ActivityFunction = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def activity(function: ActivityFunction) -> FunctionBuilder:
    """Register ``function`` as an activity on the blueprint (typed: the SDK's decorator is not)."""
    builder: FunctionBuilder = blueprint.activity_trigger(input_name="payload")(function)
    return builder


from activities import crawl  # noqa: E402,F401  (register on the blueprint)
from activities import datasets  # noqa: E402,F401
from activities import validation  # noqa: E402,F401
from activities import verify  # noqa: E402,F401

__all__ = ["ActivityFunction", "activity", "blueprint"]
