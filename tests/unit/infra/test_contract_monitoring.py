"""Portal monitoring: diagnostic settings to the workspace, alert rules to an action group, the
workbook, and the KQL they share with docs/monitoring.md, written against what the app logs."""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from pathlib import Path

import pytest

from shared.logs import CONTEXT_FIELDS, EVENT_FIELD, JsonFormatter, log_event

from _infra import accessor_chain, unwrap

KQL_DIR = Path("infra/monitoring")
WORKBOOK_PANELS = {
    "jobs-by-status": "Jobs by status",
    "images-per-second": "Images stored per second",
    "failures-by-reason": "Failed candidates by reason",
    "orchestrations-by-status": "Orchestrations by status",
}
#: Fields of the Durable extension's tracking traces (Microsoft's "Diagnostics in Durable
#: Functions": function state changes, category Host.Triggers.DurableTask).
DURABLE_TRACE_FIELDS = {"Category", "prop__functionName", "prop__functionType", "prop__instanceId",
                        "prop__state", "prop__isReplay", "prop__reason"}
APP_DIRS = ("shared", "activities", "http_triggers", "orchestrators", "entities", "timers")


@pytest.fixture(scope="module")
def diagnostics(infra):
    return infra.files["modules/diagnostics.bicep"]


@pytest.fixture(scope="module")
def alerts(infra):
    return infra.files["modules/alerts.bicep"]


def kql_files(infra) -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((infra.root / KQL_DIR).glob("*.kql"))}


# --- diagnostic settings ---------------------------------------------------------------------


def settings_by_scope(diagnostics) -> dict[str, dict]:
    out = {}
    for symbol, resource in diagnostics.resources_of_type("Microsoft.Insights/diagnosticSettings").items():
        body = unwrap(resource)[0]
        assert body["properties"]["workspaceId"] == {
            "operator": {"type": "property_accessor", "operands": {"operand_1": "workspace", "operand_2": "id"}}
        }, f"{symbol} must send to the Log Analytics workspace"
        out[diagnostics.resources[body["scope"]]["type"]] = body["properties"]
    return out


def categories(props: dict) -> set[str]:
    return {entry.get("category") or entry.get("categoryGroup") for entry in props.get("logs", [])}


def test_diagnostics_cover_every_data_service(infra, diagnostics) -> None:
    by_scope = settings_by_scope(diagnostics)
    assert categories(by_scope["Microsoft.KeyVault/vaults"]) == {"audit"}
    storage_logs = {"StorageRead", "StorageWrite", "StorageDelete"}
    for service in ("blobServices", "queueServices", "tableServices"):
        props = by_scope[f"Microsoft.Storage/storageAccounts/{service}"]
        logs = props["logs"]
        if isinstance(logs, str):
            logs = diagnostics.var(logs)
        assert {entry["category"] for entry in logs} == storage_logs, service
    assert {"DataPlaneRequests", "PartitionKeyRUConsumption"} <= categories(by_scope["Microsoft.DocumentDB/databaseAccounts"])
    assert categories(by_scope["Microsoft.Web/sites"]) == {"FunctionAppLogs"}
    params = infra.module_params("modules/diagnostics.bicep")
    assert accessor_chain(params["workspaceName"]) == ["monitoring", "outputs", "logAnalyticsName"]
    assert accessor_chain(params["functionAppName"]) == ["api", "outputs", "name"]
    app_insights = infra.files["modules/monitoring.bicep"].resources["appInsights"]
    assert unwrap(app_insights)[0]["properties"]["WorkspaceResourceId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "workspace", "operand_2": "id"}}
    }, "Application Insights and the diagnostic settings share one workspace"


# --- alerts ----------------------------------------------------------------------------------


def test_alert_rules(infra, alerts) -> None:
    logs = {unwrap(r)[0]["properties"]["criteria"]["allOf"][0]["query"]["function"]["parameters"]["file_path"]
            for r in alerts.resources_of_type("Microsoft.Insights/scheduledQueryRules").values()}
    assert logs == {"../monitoring/alert-failed-jobs.kql", "../monitoring/alert-function-errors.kql"}
    metrics = {}
    for resource in alerts.resources_of_type("Microsoft.Insights/metricAlerts").values():
        props = unwrap(resource)[0]["properties"]
        (criterion,) = props["criteria"]["allOf"]
        metrics[(criterion["metricNamespace"], criterion["metricName"])] = criterion
        assert props["actions"] == "metricActions"
    throttled = metrics[("Microsoft.DocumentDB/databaseAccounts", "TotalRequests")]
    assert throttled["dimensions"] == [{"name": "StatusCode", "operator": "Include", "values": ["429"]}]
    availability = metrics[("Microsoft.Storage/storageAccounts", "Availability")]
    assert availability["operator"] == "LessThan"
    for resource in alerts.resources_of_type("Microsoft.Insights/scheduledQueryRules").values():
        assert unwrap(resource)[0]["properties"]["actions"] == {"actionGroups": "groupIds"}
    params = infra.module_params("modules/alerts.bicep")
    assert params["actionGroupId"] == "alertActionGroupId" and params["alertEmail"] == "alertEmail"
    assert re.search(r"var createGroup = empty\(actionGroupId\) && !empty\(alertEmail\)", alerts.text)
    assert re.search(r"var metricActions = map\(groupIds, id => \{\s*actionGroupId: id\s*\}\)", alerts.text)


# --- workbook and docs -----------------------------------------------------------------------


def test_workbook_panels(infra) -> None:
    workbook = infra.files["modules/workbook.bicep"]
    panels = {p["name"]: p for p in workbook.var("panels")}
    assert set(panels) == set(WORKBOOK_PANELS)
    for name, title in WORKBOOK_PANELS.items():
        assert panels[name]["title"] == title
        assert panels[name]["query"]["function"]["parameters"]["file_path"] == f"../monitoring/{name}.kql"
    (resource,) = workbook.resources_of_type("Microsoft.Insights/workbooks").values()
    body = unwrap(resource)[0]
    assert body["kind"] == "shared"
    assert accessor_chain(body["properties"]["sourceId"]) == ["appInsights", "id"]
    assert "string(content)" in workbook.text


def test_docs_show_the_same_queries(infra) -> None:
    """docs/monitoring.md shows every query the portal runs, character for character."""
    doc = (infra.root / "docs" / "monitoring.md").read_text()
    blocks = re.findall(r"```kusto\n(.*?)```", doc, re.S)
    for name, text in kql_files(infra).items():
        assert text in blocks, f"docs/monitoring.md does not show infra/monitoring/{name}.kql as it is"


def emitted_events(infra) -> dict[str, set[str]]:
    """event name -> field names, from every log_event(...) call of the app code."""
    events: dict[str, set[str]] = {}
    for folder in APP_DIRS:
        for path in (infra.root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "log_event"):
                    continue
                name = node.args[1]
                assert isinstance(name, ast.Constant), f"{path}: the event name is a literal"
                events.setdefault(name.value, set()).update(k.arg for k in node.keywords)
    return events


def test_queries_use_what_the_app_logs(infra) -> None:
    """Every app event a query selects is logged somewhere, with every field the query reads
    (context fields ride on every record)."""
    events = emitted_events(infra)
    assert {"job_status", "batch_done"} <= set(events)
    for name, text in kql_files(infra).items():
        selected = re.findall(rf"customDimensions\.{EVENT_FIELD}\) == \"(\w+)\"", text)
        fields = set(re.findall(r"customDimensions\.(\w+)", text)) - {EVENT_FIELD}
        if "Host.Triggers.DurableTask" in text:
            assert not selected
            assert fields <= DURABLE_TRACE_FIELDS, f"{name}: {fields - DURABLE_TRACE_FIELDS}"
            continue
        if not selected:
            assert not fields, f"{name} reads custom dimensions without selecting an event"
            continue
        (event,) = set(selected)
        missing = fields - events[event] - set(CONTEXT_FIELDS)
        assert not missing, f"{name}: the {event} event logs no {sorted(missing)}"


def test_event_record_shape() -> None:
    """Locally an event is one JSON line whose keys are the custom dimensions of the record in
    Application Insights; a dict field travels as JSON text (the failures-by-reason query parses it)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("pixcrawler.test-monitoring")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, "batch_done", "batch %s", "b1", job_id="j1", stored=3, failed={"timeout": 2}, error=None)
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line[EVENT_FIELD] == "batch_done" and line["message"] == "batch b1"
    assert line["job_id"] == "j1" and line["stored"] == 3
    assert json.loads(line["failed"]) == {"timeout": 2}
    assert "error" not in line
