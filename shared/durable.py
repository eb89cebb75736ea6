"""Small helpers over the Durable Functions client that several domain modules share."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df


async def read_entity(client: df.DurableOrchestrationClient, name: str, key: str) -> dict[str, Any] | None:
    """An entity's state, or None when it does not exist (yet, or any more).

    Example::

        state = await read_entity(client, "job_progress", job_id)
    """
    response = await client.read_entity_state(df.EntityId(name, key))
    if not response.entity_exists:
        return None
    state = response.entity_state
    return state if isinstance(state, dict) else None
