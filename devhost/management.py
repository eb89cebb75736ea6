"""The Durable Functions HTTP API (the routes the SDK's DurableOrchestrationClient calls).

Served under /runtime/webhooks/durabletask/, which is both the `rpcBaseUrl` of the client
binding and the base of the management URLs from create_check_status_response. Status codes
follow the public "HTTP API reference" of Durable Functions.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from .engine import Engine
from .protocol import TERMINAL, EventType, RuntimeStatus, event, protocol_name, stamp
from .store import Instance, MessageKind

BASE = "/runtime/webhooks/durabletask"
#: The history events a status shows (named as the Durable Functions HTTP API names them).
SHOWN_EVENTS = frozenset({
    EventType.EXECUTION_STARTED, EventType.EXECUTION_COMPLETED, EventType.EXECUTION_FAILED,
    EventType.EXECUTION_TERMINATED, EventType.TASK_COMPLETED, EventType.TASK_FAILED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
    EventType.TIMER_FIRED, EventType.EVENT_RAISED, EventType.EXECUTION_SUSPENDED,
    EventType.EXECUTION_RESUMED})
OUTPUT_FIELDS = ("Input", "Result")


def client_binding(origin: str, hub: str) -> str:
    """The JSON the durable client binding hands to functions."""
    base = f"{origin}{BASE}/"
    instance = f"{base}instances/INSTANCEID"
    return json.dumps({
        "taskHubName": hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}orchestrators/{{functionName}}[/{{instanceId}}]",
            "createAndWaitOnNewInstancePostUri":
                f"{base}orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"},
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": instance,
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}",
            "purgeHistoryDeleteUri": instance,
            "restartPostUri": f"{instance}/restart",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}",
            "resumePostUri": f"{instance}/resume?reason={{text}}"},
        "baseUrl": base,
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": base,
    })


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() in ("true", "1", "yes")


def _time_arg(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return stamp(moment.astimezone(timezone.utc))


def body_to_input(raw: bytes) -> str | None:
    """Orchestration/event input from a request body, as JSON text.

    The SDK posts `json=<JSON text>` (so the body is a JSON string holding JSON text); other
    clients post the JSON value itself. Both are accepted.
    """
    if not raw.strip():
        return None
    value = json.loads(raw)
    return value if isinstance(value, str) and _is_json(value) else json.dumps(value)


class ManagementApi:
    """aiohttp handlers for the durable HTTP API."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(BASE + "/orchestrators/{name}", self.start),
            web.post(BASE + "/orchestrators/{name}/{instance_id}", self.start),
            web.get(BASE + "/instances", self.list_instances),
            web.get(BASE + "/instances/", self.list_instances),
            web.delete(BASE + "/instances", self.purge_many),
            web.delete(BASE + "/instances/", self.purge_many),
            web.get(BASE + "/instances/{id}", self.get_status),
            web.delete(BASE + "/instances/{id}", self.purge_one),
            web.post(BASE + "/instances/{id}/raiseEvent/{event}", self.raise_event),
            web.post(BASE + "/instances/{id}/restart", self.restart),
            web.post(BASE + "/instances/{id}/{op:terminate|suspend|resume|rewind}",
                     self.control),
            web.post(BASE + "/entities/{name}/{key}", self.signal_entity),
            web.get(BASE + "/entities/{name}/{key}", self.read_entity),
        ]

    # ------------------------------------------------------------------ orchestrations
    def _payload(self, request: web.Request, iid: str) -> dict[str, str]:
        urls = json.loads(client_binding(f"{request.scheme}://{request.host}", ""))
        return {k: v.replace("INSTANCEID", iid) for k, v in urls["managementUrls"].items()}

    async def start(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.engine.model.orchestrators:
            message = (f"The function '{name}' doesn't exist, is disabled, or is not an "
                       f"orchestrator function.")
            return web.json_response({"Message": message, "ExceptionMessage": message},
                                     status=400)
        iid = request.match_info.get("instance_id") or uuid.uuid4().hex
        try:
            input_text = body_to_input(await request.read())
        except ValueError:
            return web.json_response({"Message": "The request body is not valid JSON.",
                                      "ExceptionMessage": "The request body is not valid JSON."},
                                     status=400)
        if not self.engine.start_instance(iid, name, input_text,
                                          request.query.get("version")):
            message = f"An Orchestration instance with the ID '{iid}' is already running."
            return web.json_response({"Message": message, "ExceptionMessage": message},
                                     status=409)
        payload = self._payload(request, iid)
        return web.json_response(payload, status=202,
                                 headers={"Location": payload["statusQueryGetUri"],
                                          "Retry-After": "1"})

    def status_json(self, row: Instance, show_input: bool, show_history: bool = False,
                    show_output: bool = False) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": row.name, "instanceId": row.id, "runtimeStatus": str(row.status),
            "input": _loads(row.input) if show_input else None,
            "customStatus": _loads(row.custom_status), "output": _loads(row.output),
            "createdTime": row.created, "lastUpdatedTime": row.updated}
        if row.failure:
            status["failureDetails"] = json.loads(row.failure)
        if show_history:
            status["historyEvents"] = status["history"] = self._history(row.id, show_output)
        return status

    def _history(self, iid: str, show_output: bool) -> list[dict[str, Any]]:
        names: dict[int, str | None] = {}
        shown = []
        for line in self.store.history(iid):
            ev = json.loads(line)
            kind = ev["EventType"]
            if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED):
                names[ev["EventId"]] = ev.get("Name")
            if kind not in SHOWN_EVENTS:
                continue
            item = {"EventType": protocol_name(EventType(kind)), "Timestamp": ev["Timestamp"]}
            name = ev.get("Name") or names.get(ev.get("TaskScheduledId", -1))
            if name:
                item["FunctionName" if kind != EventType.EVENT_RAISED else "Name"] = name
            for key in ("Reason", "Details", "FireAt", "InstanceId"):
                if ev.get(key):
                    item[key] = ev[key]
            if show_output:
                for key in OUTPUT_FIELDS:
                    if ev.get(key) is not None:
                        item[key] = _loads(ev[key]) if _is_json(ev[key]) else ev[key]
            shown.append(item)
        return shown

    async def get_status(self, request: web.Request) -> web.Response:
        row = self.store.instance(request.match_info["id"])
        if row is None:
            return web.json_response(
                {"message": f"No instance with ID '{request.match_info['id']}' found."},
                status=404)
        body = self.status_json(row, _flag(request, "showInput", True),
                                _flag(request, "showHistory", False),
                                _flag(request, "showHistoryOutput", False))
        code = {RuntimeStatus.COMPLETED: 200, RuntimeStatus.FAILED: 400,
                RuntimeStatus.TERMINATED: 400}.get(row.status, 202)
        if row.status is RuntimeStatus.FAILED and _flag(
                request, "returnInternalServerErrorOnFailure", False):
            code = 500
        headers = {"Location": str(request.url), "Retry-After": "1"} if code == 202 else {}
        return web.json_response(body, status=code, headers=headers)

    def _filtered(self, request: web.Request) -> list[Instance]:
        statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
        return self.store.query_instances(
            statuses, _time_arg(request, "createdTimeFrom"), _time_arg(request, "createdTimeTo"),
            request.query.get("instanceIdPrefix"))

    async def list_instances(self, request: web.Request) -> web.Response:
        rows = self._filtered(request)
        start = int(request.headers.get("x-ms-continuation-token") or 0)
        top = int(request.query.get("top") or 0) or len(rows)
        page = rows[start:start + top]
        headers = {}
        if start + top < len(rows):
            headers["x-ms-continuation-token"] = str(start + top)
        show_input = _flag(request, "showInput", False)
        return web.json_response([self.status_json(r, show_input) for r in page],
                                 headers=headers)

    async def purge_one(self, request: web.Request) -> web.Response:
        row = self.store.instance(request.match_info["id"])
        if row is None or row.status not in TERMINAL:
            return web.json_response({"instancesDeleted": 0}, status=404)
        return web.json_response({"instancesDeleted": self.engine.purge([row.id])})

    async def purge_many(self, request: web.Request) -> web.Response:
        ids = [r.id for r in self._filtered(request) if r.status in TERMINAL]
        deleted = self.engine.purge(ids)
        return web.json_response({"instancesDeleted": deleted}, status=200 if deleted else 404)

    async def control(self, request: web.Request) -> web.Response:
        op = request.match_info["op"]
        row = self.store.instance(request.match_info["id"])
        if row is None:
            return web.json_response({"message": "instance not found"}, status=404)
        if op == "rewind":
            return web.json_response(
                {"message": "rewind is not supported by the devhost; use restart"},
                status=501)
        if row.status in TERMINAL:
            return web.json_response({"message": f"instance is {row.status}"}, status=410)
        self.engine.send(row.id, MessageKind(op), {"reason": request.query.get("reason", "")})
        return web.json_response({}, status=202)

    async def raise_event(self, request: web.Request) -> web.Response:
        row = self.store.instance(request.match_info["id"])
        if row is None:
            return web.json_response({"message": "instance not found"}, status=404)
        if row.status in TERMINAL:
            return web.json_response({"message": f"instance is {row.status}"}, status=410)
        try:
            data = body_to_input(await request.read())
        except ValueError:
            return web.json_response({"message": "body is not JSON"}, status=400)
        self.engine.send(row.id, MessageKind.EVENT, event(
            EventType.EVENT_RAISED, Name=request.match_info["event"], Input=data))
        return web.json_response({}, status=202)

    async def restart(self, request: web.Request) -> web.Response:
        row = self.store.instance(request.match_info["id"])
        if row is None:
            return web.json_response({"message": "instance not found"}, status=404)
        new_id = (uuid.uuid4().hex if _flag(request, "restartWithNewInstanceId", True)
                  else row.id)
        if not self.engine.start_instance(new_id, row.name, row.input, row.version):
            return web.json_response({"message": f"instance {new_id} is running"}, status=409)
        return web.json_response(new_id, status=202)

    # ------------------------------------------------------------------ entities
    async def signal_entity(self, request: web.Request) -> web.Response:
        entity_id = f"@{request.match_info['name'].lower()}@{request.match_info['key']}"
        try:
            data = body_to_input(await request.read())
        except ValueError:
            return web.json_response({"message": "body is not JSON"}, status=400)
        self.engine.signal_entity(entity_id, request.query.get("op", ""), data)
        return web.Response(status=202)

    async def read_entity(self, request: web.Request) -> web.Response:
        entity_id = f"@{request.match_info['name'].lower()}@{request.match_info['key']}"
        state = self.store.entity_state(entity_id)
        if state is None:
            return web.json_response({"message": "entity not found"}, status=404)
        return web.Response(text=state, content_type="application/json")


def _is_json(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        json.loads(text)
        return True
    except ValueError:
        return False
