"""The durable client binding: every DurableOrchestrationClient call, run inside the app
against the devhost's HTTP API, and the management URLs followed directly."""
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_start_new_with_and_without_id(host):
    generated = host.client(op="start", name="sequence", input=2)["result"]
    given = unique("given")
    assert host.client(op="start", name="sequence", id=given, input=2)["result"] == given
    for iid in (generated, given):
        assert host.wait(iid)["output"] == [4, 8, 16]


def test_starting_a_running_id_is_refused(host):
    iid = unique("busy")
    host.client(op="start", name="approval", id=iid)
    refused = host.client(op="start", name="approval", id=iid)
    assert "already running" in refused["error"]
    host.client(op="terminate", id=iid, reason="cleanup")
    host.wait(iid)
    assert host.client(op="start", name="sequence", id=iid, input=1)["result"] == iid
    assert host.wait(iid)["output"] == [2, 4, 8]


def test_unknown_orchestrator_is_refused(host):
    assert "doesn't exist" in host.client(op="start", name="nope")["error"]


def test_get_status_flags(host):
    iid = host.client(op="start", name="sequence", input=5)["result"]
    host.wait(iid)
    status = host.client(op="status", id=iid, history=True, history_output=True,
                         show_input=True)["result"]
    assert status["runtimeStatus"] == "Completed" and status["input"] == 5
    assert status["output"] == [10, 20, 40]
    kinds = [e["EventType"] for e in status["history"]]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    assert kinds.count("TaskCompleted") == 3
    bare = host.client(op="status", id=iid)["result"]
    assert bare["history"] is None
    assert host.client(op="status", id="no-such-instance")["result"] is None


def test_status_all_and_by_filters(host):
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    done = host.client(op="start", name="sequence", input=1)["result"]
    waiting = host.client(op="start", name="approval")["result"]
    host.wait(done)
    host.wait_for(lambda: host.status(waiting)["runtimeStatus"] == "Running")
    all_ids = {s["instanceId"] for s in host.client(op="status_all")["result"]}
    assert {done, waiting} <= all_ids
    running = host.client(op="status_by", statuses=["Running"],
                          **{"from": before.isoformat()})["result"]
    assert waiting in {s["instanceId"] for s in running}
    assert done not in {s["instanceId"] for s in running}
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert host.client(op="status_by", **{"from": later.isoformat()})["result"] == []
    host.client(op="terminate", id=waiting, reason="done")


def test_terminate(host):
    iid = host.client(op="start", name="approval")["result"]
    host.wait_for(lambda: host.status(iid)["runtimeStatus"] == "Running")
    host.client(op="terminate", id=iid, reason="no longer needed")
    status = host.wait(iid)
    assert (status["runtimeStatus"], status["output"]) == ("Terminated", "no longer needed")


def test_suspend_and_resume(host):
    iid = host.client(op="start", name="approval")["result"]
    host.wait_for(lambda: host.status(iid)["runtimeStatus"] == "Running")
    host.client(op="suspend", id=iid, reason="hold")
    host.wait_for(lambda: host.status(iid)["runtimeStatus"] == "Suspended")
    host.client(op="raise", id=iid, event="approve", data="late")
    time.sleep(0.3)  # let the devhost see the event; it must not act while suspended
    assert host.status(iid)["runtimeStatus"] == "Suspended"
    host.client(op="resume", id=iid, reason="go")
    assert host.wait(iid)["output"] == "late"


def test_raise_event_to_finished_instance_is_refused(host):
    iid = host.client(op="start", name="sequence", input=1)["result"]
    host.wait(iid)
    assert "error" in host.client(op="raise", id=iid, event="x", data=1)


def test_purge_one_and_by_filter(host):
    first = host.client(op="start", name="sequence", input=1)["result"]
    second = host.client(op="start", name="failing")["result"]
    host.wait(first)
    host.wait(second)
    assert host.client(op="purge", id=first)["result"] == 1
    assert host.client(op="status", id=first)["result"] is None
    assert host.client(op="purge", id=first)["result"] == 0
    since = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()
    deleted = host.client(op="purge_by", statuses=["Failed"], **{"from": since})["result"]
    assert deleted >= 1
    assert host.client(op="status", id=second)["result"] is None


def test_signal_and_read_entity(host):
    key = unique("client")
    assert host.client(op="read_entity", entity="counter", key=key)["result"]["exists"] is False
    for n in (1, 2, 3):
        host.client(op="signal", entity="counter", key=key, operation="add", input=n)
    host.wait_for(lambda: host.entity("counter", key) == (200, 6))
    state = host.client(op="read_entity", entity="counter", key=key)["result"]
    assert state == {"exists": True, "state": 6}
    host.client(op="signal", entity="Counter", key=key, operation="delete")
    host.wait_for(lambda: host.entity("counter", key)[0] == 404)


def test_restart(host):
    iid = host.client(op="start", name="sequence", input=3)["result"]
    host.wait(iid)
    new_id = host.client(op="restart", id=iid)["result"]
    assert new_id != iid and host.wait(new_id)["output"] == [6, 12, 24]


def test_check_status_urls_work_when_followed(host):
    status, headers, _ = host.request("POST", "/api/start/approval")
    assert status == 202
    payload = host.json("POST", "/api/start/approval")[1]
    iid = payload["id"]
    assert host.request("GET", headers["Location"])[0] in (200, 202)
    host.wait_for(lambda: host.json("GET", payload["statusQueryGetUri"])[0] == 202)
    event_url = payload["sendEventPostUri"].replace("{eventName}", "approve")
    assert host.request("POST", event_url, {"via": "url"})[0] == 202
    code, body = host.json("GET", payload["statusQueryGetUri"])
    host.wait(iid)
    code, body = host.json("GET", payload["statusQueryGetUri"])
    assert (code, body["output"]) == (200, {"via": "url"})
    other = headers["Location"].rsplit("/", 1)[1]
    terminate = host.json("POST", "/api/client", {"op": "check_status", "id": other})[1]
    url = terminate["result"]["terminatePostUri"].replace("{text}", "bye")
    assert host.request("POST", url)[0] == 202
    assert host.wait(other)["runtimeStatus"] == "Terminated"
    purge = host.request("DELETE", payload["purgeHistoryDeleteUri"])
    assert purge[0] == 200
    assert host.request("GET", payload["statusQueryGetUri"])[0] == 404
