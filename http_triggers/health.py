"""GET /api/v1/health: liveness, no auth, no I/O."""

import json

import azure.functions as func

from http_triggers._blueprint import blueprint


@blueprint.route(route="v1/health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"status": "ok", "service": "pixcrawler"}),
        status_code=200,
        mimetype="application/json",
    )
