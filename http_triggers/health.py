"""GET /api/v1/health (liveness: no auth, no I/O) and /health/detailed (admin: each backing
service probed, with its status and latency)."""

from pydantic import BaseModel

from http_triggers._api import ApiRequest, Auth, api
from http_triggers._health import run_checks
from shared.models import HealthReport
from shared.names import IMAGES_CONTAINER
from shared.runtime import get_runtime
from shared.workflow import progress_entity

TAGS = ("health",)
#: A key no entity is ever created under: reading it costs the durable runtime one lookup.
PROBE_ENTITY = progress_entity("health-probe")


class Health(BaseModel):
    status: str = "ok"
    service: str = "pixcrawler"


@api("v1/health", ["GET"], auth=Auth.none, response=Health, tags=TAGS)
async def health(request: ApiRequest) -> Health:
    """Liveness: answers 200 while the app is loaded; touches no backing service."""
    return Health()


@api("v1/health/detailed", ["GET"], auth=Auth.admin, response=HealthReport, tags=TAGS, durable=True)
async def health_detailed(request: ApiRequest) -> HealthReport:
    """Cosmos DB, Blob Storage and the durable runtime, each with its status and latency."""
    runtime = await get_runtime()
    client = request.durable
    jobs = runtime.jobs
    return await run_checks(
        {
            "cosmos": lambda: jobs.query_values(
                "SELECT VALUE COUNT(1) FROM c WHERE c.user_id = @pk", pk="health-probe"
            ),
            "blob": lambda: runtime.blobs.exists(IMAGES_CONTAINER, "health-probe"),
            "durable": lambda: client.read_entity_state(PROBE_ENTITY),
        }
    )
