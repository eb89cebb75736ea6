"""GET /api/v1/health: liveness, no auth, no I/O."""

from pydantic import BaseModel

from http_triggers._api import ApiRequest, Auth, api


class Health(BaseModel):
    status: str = "ok"
    service: str = "pixcrawler"


@api("v1/health", ["GET"], auth=Auth.none, response=Health, tags=("health",))
async def health(request: ApiRequest) -> Health:
    """Liveness: answers 200 while the app is loaded; touches no backing service."""
    return Health()
