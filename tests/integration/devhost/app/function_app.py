"""A small DFApp that exercises every part of the devhost (used by the conformance suite and
the benchmark). Nothing here knows about the devhost."""
import asyncio
import json
import os
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _scratch() -> Path:
    path = Path(os.environ.get("DEVHOST_TEST_SCRATCH", "/tmp/devhost-test-scratch"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- HTTP triggers
@app.route(route="echo/{id:int}/{rest?}", methods=["GET", "POST", "PUT"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {"method": req.method, "url": req.url, "headers": dict(req.headers),
            "params": dict(req.params), "route": dict(req.route_params),
            "body": req.get_body().decode()}
    response = func.HttpResponse(json.dumps(body), status_code=201,
                                 mimetype="application/json")
    response.headers.add("Set-Cookie", "a=1")
    response.headers.add("Set-Cookie", "b=2")
    response.headers["X-Echo"] = "yes"
    return response


@app.route(route="async/echo", methods=["POST"])
async def async_echo(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(req.get_body(), headers={"X-Async": "1"})


@app.route(route="jobs/stats", methods=["GET"])
def job_stats(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("stats")


@app.route(route="jobs/{id}", methods=["GET"])
def job_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("job " + req.route_params["id"])


@app.route(route="items/{g:guid}", methods=["GET"])
def item_by_guid(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("guid " + req.route_params["g"])


@app.route(route="secure", auth_level=func.AuthLevel.FUNCTION)
def secure(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secret")


@app.route(route="adminonly", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin")


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the function blew up")


@app.route(route="start/{name}/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"],
                                         req.route_params.get("instance_id"),
                                         json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


def _status(s):
    return None if not s else {
        "instanceId": s.instance_id, "name": s.name,
        "runtimeStatus": s.runtime_status.value if s.runtime_status else None,
        "input": s.input_, "output": s.output, "customStatus": s.custom_status,
        "history": s.history, "createdTime": s.created_time.isoformat()}


@app.route(route="client", methods=["POST"])
@app.durable_client_input(client_name="client")
async def client_op(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Runs one DurableOrchestrationClient call named in the body; returns its result."""
    from datetime import datetime
    a = req.get_json()
    op = a["op"]
    when = {k: datetime.fromisoformat(a[k]) for k in ("from", "to") if a.get(k)}
    statuses = [df.OrchestrationRuntimeStatus(s) for s in a.get("statuses", [])] or None
    try:
        if op == "start":
            result = await client.start_new(a["name"], a.get("id"), a.get("input"))
        elif op == "status":
            result = _status(await client.get_status(
                a["id"], a.get("history", False), a.get("history_output", False),
                a.get("show_input", False)))
        elif op == "status_all":
            result = [_status(s) for s in await client.get_status_all()]
        elif op == "status_by":
            result = [_status(s) for s in await client.get_status_by(
                when.get("from"), when.get("to"), statuses)]
        elif op in ("terminate", "suspend", "resume"):
            result = await getattr(client, op)(a["id"], a.get("reason", "because"))
        elif op == "raise":
            result = await client.raise_event(a["id"], a["event"], a.get("data"))
        elif op == "purge":
            result = (await client.purge_instance_history(a["id"])).instances_deleted
        elif op == "purge_by":
            result = (await client.purge_instance_history_by(
                when.get("from"), when.get("to"), statuses)).instances_deleted
        elif op == "signal":
            result = await client.signal_entity(df.EntityId(a["entity"], a["key"]),
                                                a["operation"], a.get("input"))
        elif op == "read_entity":
            state = await client.read_entity_state(df.EntityId(a["entity"], a["key"]))
            result = {"exists": state.entity_exists, "state": state.entity_state}
        elif op == "restart":
            result = await client.restart(a["id"], a.get("new_id", True))
        elif op == "check_status":
            result = client.create_http_management_payload(a["id"])
        else:
            return func.HttpResponse(f"unknown op {op}", status_code=400)
    except Exception as exc:  # the client refused: report it
        return func.HttpResponse(json.dumps({"error": str(exc)}), status_code=409,
                                 mimetype="application/json")
    return func.HttpResponse(json.dumps({"result": result}), mimetype="application/json")


# ---------------------------------------------------------------- activities
@app.activity_trigger(input_name="x")
def double(x):
    return x * 2


@app.activity_trigger(input_name="x")
async def async_double(x):
    await asyncio.sleep(0.01)
    return x * 2


@app.activity_trigger(input_name="x")
def noop(x):
    return x


@app.activity_trigger(input_name="spec")
def flaky(spec):
    """Fails the first spec['fail'] calls for spec['key'] (counted in a scratch file)."""
    path = _scratch() / f"flaky-{spec['key']}"
    with open(path, "a") as f:
        f.write("x")
    calls = path.stat().st_size
    if calls <= spec["fail"]:
        raise ValueError(f"flaky {spec['key']} attempt {calls}")
    return spec["value"] * 2


@app.activity_trigger(input_name="spec")
def slow_count(spec):
    """Sleeps a little and counts each execution (at-least-once visible in the file)."""
    import time
    time.sleep(spec.get("sleep", 0.02))
    with open(_scratch() / f"runs-{spec['run']}", "a") as f:
        f.write("x")
    return spec["value"] * 2


@app.activity_trigger(input_name="seconds")
async def sleepy(seconds):
    await asyncio.sleep(seconds)
    return "woke"


# ---------------------------------------------------------------- orchestrators
@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    x = context.get_input() or 1
    a = yield context.call_activity("double", x)
    b = yield context.call_activity("async_double", a)
    c = yield context.call_activity(double, b)
    return [a, b, c]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100,
                              max_number_of_attempts=spec["attempts"])
    return (yield context.call_activity_with_retry("flaky", options, spec))


@app.orchestration_trigger(context_name="context")
def group(context: df.DurableOrchestrationContext):
    """One group of the property test: items with optional retries; fails on any failure."""
    g = context.get_input()
    options = df.RetryOptions(50, g["attempts"]) if g["attempts"] > 1 else None
    tasks = []
    for i, item in enumerate(g["items"]):
        spec = {"key": f"{context.instance_id}-{i}", "fail": item["fail"],
                "value": item["value"]}
        tasks.append(context.call_activity_with_retry("flaky", options, spec) if options
                     else context.call_activity("flaky", spec))
    values = yield context.task_all(tasks)
    return sum(values)


@app.orchestration_trigger(context_name="context")
def shape(context: df.DurableOrchestrationContext):
    """The property test's root: each group inline, as a sub-orchestration, or with retry."""
    groups = context.get_input()["groups"]
    tasks = []
    for n, g in enumerate(groups):
        if g["mode"] == "sub":
            tasks.append(context.call_sub_orchestrator("group", g))
        elif g["mode"] == "sub_retry":
            tasks.append(context.call_sub_orchestrator_with_retry(
                "group", df.RetryOptions(50, 2), g))
        else:
            tasks.append(context.call_sub_orchestrator("group", g, f"{context.instance_id}-g{n}"))
    results = []
    for task in tasks:
        try:
            results.append((yield task))
        except Exception:
            results.append("failed")
    return results


@app.orchestration_trigger(context_name="context")
def chunked(context: df.DurableOrchestrationContext):
    """Fan-out of sub-orchestrations (crash test and benchmark)."""
    spec = context.get_input()
    tasks = [context.call_sub_orchestrator("chunk", {**spec, "chunk": c})
             for c in range(spec["chunks"])]
    totals = yield context.task_all(tasks)
    return {"total": sum(totals), "chunks": len(totals)}


@app.orchestration_trigger(context_name="context")
def chunk(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    activity = spec.get("activity", "noop")
    base = spec["chunk"] * spec["size"]
    calls = [context.call_activity(activity, {"value": base + i, "run": spec.get("run"),
                                              "sleep": spec.get("sleep", 0)}
                                   if activity == "slow_count" else base + i)
             for i in range(spec["size"])]
    values = yield context.task_all(calls)
    total = sum(v * 2 if activity == "noop" else v for v in values)
    if spec.get("counter"):
        context.signal_entity(df.EntityId("counter", spec["counter"]), "add", total)
        seen = yield context.call_entity(df.EntityId("counter", spec["counter"] + "-calls"),
                                         "add", 1)
        context.set_custom_status({"seen": seen})
    return total


@app.orchestration_trigger(context_name="context")
def one_activity(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("noop", context.get_input()))


@app.orchestration_trigger(context_name="context")
def sub_parent(context: df.DurableOrchestrationContext):
    given = yield context.call_sub_orchestrator("sequence", 1, f"{context.instance_id}-child")
    generated = yield context.call_sub_orchestrator("sequence", 2)
    retried = yield context.call_sub_orchestrator_with_retry(
        "retrying", df.RetryOptions(50, 3),
        {"key": f"{context.instance_id}-sub", "fail": 0, "value": 5, "attempts": 1})
    return {"given": given, "generated": generated, "retried": retried}


@app.orchestration_trigger(context_name="context")
def calls_missing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("no_such_orchestrator", None, f"{context.instance_id}-x")
    except Exception as exc:
        return f"caught: {str(exc).strip()}"
    return "not caught"


@app.orchestration_trigger(context_name="context")
def timer(context: df.DurableOrchestrationContext):
    start_time = context.current_utc_datetime
    yield context.create_timer(start_time + timedelta(seconds=context.get_input()))
    return (context.current_utc_datetime - start_time).total_seconds()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    """Waits for 'approve' after a short timer (events raised early must be kept)."""
    context.set_custom_status("waiting")
    delay = context.get_input() or 0
    if delay:
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
    value = yield context.wait_for_external_event("approve")
    context.set_custom_status("approved")
    return value


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext):
    deadline = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    event = context.wait_for_external_event("go")
    winner = yield context.task_any([deadline, event])
    if winner == event:
        deadline.cancel()
        return {"winner": "event", "value": event.result}
    return {"winner": "timer"}


@app.orchestration_trigger(context_name="context")
def entity_user(context: df.DurableOrchestrationContext):
    key = context.get_input()
    counter = df.EntityId("counter", key)
    context.signal_entity(counter, "add", 5)
    after_add = yield context.call_entity(counter, "add", 10)
    value = yield context.call_entity(counter, "get")
    try:
        yield context.call_entity(counter, "fail")
        failure = None
    except Exception as exc:
        failure = str(exc)
    return {"after_add": after_add, "value": value, "failure": failure}


@app.orchestration_trigger(context_name="context")
def collector(context: df.DurableOrchestrationContext):
    """continue_as_new once per event until three events are collected."""
    seen = context.get_input() or []
    if len(seen) >= 3:
        return seen
    value = yield context.wait_for_external_event("item")
    context.continue_as_new(seen + [value])


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity("double", 1)
    raise ValueError("kaput in the orchestrator")


@app.orchestration_trigger(context_name="context")
def activity_fails(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("flaky", {"key": context.instance_id, "fail": 99,
                                                  "value": 1}))


@app.orchestration_trigger(context_name="context")
def times_out(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("sleepy", 30)
        return "finished"
    except Exception as exc:
        return "timeout: " + str(exc)


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    """Reads a file on every replay: changing it between episodes breaks determinism."""
    choice = Path(context.get_input()).read_text().strip()
    yield context.call_activity("double" if choice == "one" else "noop", 1)
    yield context.wait_for_external_event("go")
    return "done"


# ---------------------------------------------------------------- entities
@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    op = context.operation_name
    if op == "add":
        value += context.get_input()
        context.set_state(value)
        context.set_result(value)
    elif op == "get":
        context.set_result(value)
    elif op == "record":
        items = context.get_state(lambda: [])
        context.set_state(items + [context.get_input()])
    elif op == "delete":
        context.destruct_on_exit()
    elif op == "fail":
        raise ValueError("entity operation failed")


# ---------------------------------------------------------------- timers
@app.timer_trigger(schedule="%TICK_SCHEDULE%", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def tick(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.signal_entity(df.EntityId("counter", "ticks"), "record",
                               {"past_due": timer.past_due})


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True)
@app.durable_client_input(client_name="client")
async def startup_tick(timer: func.TimerRequest, client: df.DurableOrchestrationClient):
    await client.signal_entity(df.EntityId("counter", "startup"), "add", 1)
