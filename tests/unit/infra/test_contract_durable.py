"""The durable backend: one host.json, valid for the Durable Task Scheduler and, with the app
settings Bicep adds on the storage backend, for the Azure Storage provider; and still what the
devhost runs."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from devhost.appmodel import HostConfig, parse_timespan

from _infra import accessor_chain, unwrap

OVERRIDE = "AzureFunctionsJobHost__"
#: storageProvider keys only the Azure Storage provider reads.
AZURE_STORAGE_ONLY = {"partitionCount", "maxQueuePollingInterval", "controlQueueBatchSize",
                      "trackingStoreConnectionStringName", "useTablePartitionManagement"}
BACKENDS = ("scheduler", "storage")


def settings_for(infra, backend: str) -> dict[str, Any]:
    """The app settings of one backend: everything but the other backend's durable settings."""
    fa = infra.function_app
    chosen = fa.var("schedulerSettings" if backend == "scheduler" else "storageBackendSettings")
    other = fa.var("storageBackendSettings" if backend == "scheduler" else "schedulerSettings")
    settings = {k: v for k, v in infra.app_settings.items() if k not in other}
    settings.update(chosen)
    return settings


def effective_host(infra, backend: str) -> dict[str, Any]:
    """host.json with the backend's AzureFunctionsJobHost__a__b__c overrides applied, as the
    Functions host's configuration does (keys are case-insensitive)."""
    host = copy.deepcopy(infra.host_json)
    for key, value in settings_for(infra, backend).items():
        if not key.startswith(OVERRIDE):
            continue
        node = host
        *parents, leaf = key[len(OVERRIDE):].split("__")
        for part in parents:
            match = next((k for k in node if k.lower() == part.lower()), part)
            node = node.setdefault(match, {})
        match = next((k for k in node if k.lower() == leaf.lower()), leaf)
        node[match] = value
    return host


def test_default_backend_is_the_scheduler(infra) -> None:
    param = infra.main.params["durableBackend"]
    assert param["default"] == "scheduler"
    allowed = next(d for d in param["decorators"] if d["type"] == "allowed")["argument"]
    assert sorted(allowed) == sorted(BACKENDS)
    assert infra.parameters_json["durableBackend"]["value"] == "${PIXCRAWLER_DURABLE_BACKEND=scheduler}"
    assert infra.module_params("modules/functionapp.bicep")["durableBackend"] == "durableBackend"
    assert infra.module_params("modules/rbac.bicep")["durableBackend"] == "durableBackend"


def test_backend_selects_its_settings(infra) -> None:
    fa = infra.function_app
    selected = fa.var("durableSettings")["operator"]
    assert selected["type"] == "conditional"
    condition = selected["operands"]["condition"]["operator"]
    assert condition["type"] == "equals"
    assert condition["operands"] == {"operand_1": "durableBackend", "operand_2": "scheduler"}
    assert selected["operands"]["true_value"] == "schedulerSettings"
    assert selected["operands"]["false_value"] == "storageBackendSettings"
    assert re.search(r"union\([^)]*durableSettings, coreSettings\)", fa.text), (
        "durable settings are part of the app settings and cannot replace a core one"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_host_json_is_valid_for_the_backend(infra, backend) -> None:
    host = effective_host(infra, backend)
    durable = host["extensions"]["durableTask"]
    settings = settings_for(infra, backend)
    provider = durable["storageProvider"]
    # Every %SETTING% of host.json is set, the task hub name among them.
    assert durable["hubName"] == "%PIXCRAWLER_TASK_HUB%"
    for ref in re.findall(r"%([A-Za-z0-9_]+)%", str(host)):
        assert ref in settings, f"{backend}: host.json reads %{ref}% but infra does not set it"
    assert settings["PIXCRAWLER_TASK_HUB"] == "taskHubName"
    assert infra.module_params("modules/functionapp.bicep")["taskHubName"] == "taskHub"
    connection = provider["connectionStringName"]
    if backend == "scheduler":
        assert provider["type"] == "azureManaged"
        assert not AZURE_STORAGE_ONLY & set(provider), "Azure Storage options in the scheduler's config"
        # Identity-based: the endpoint and the app identity's client id, no key.
        assert settings[connection] == (
            "Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}"
        )
    else:
        assert provider["type"] == "AzureStorage"
        assert connection == "AzureWebJobsStorage"
        for suffix in ("accountName", "credential", "clientId"):
            assert f"{connection}__{suffix}" in settings, "the identity-based host storage connection"
        assert not any(isinstance(v, str) and "Authentication=ManagedIdentity" in v for v in settings.values())
        assert 1 <= int(provider["partitionCount"]) <= 16
        # Microsoft's guidance for Flex Consumption: poll idle queues at least every 10 s.
        assert parse_timespan(provider["maxQueuePollingInterval"]) <= 10


def test_scheduler_settings_come_from_the_scheduler_module(infra) -> None:
    app = infra.module_params("modules/functionapp.bicep")
    ternary = app["schedulerEndpoint"]["operator"]["operands"]
    assert ternary["condition"] == "useScheduler"
    assert accessor_chain(ternary["true_value"]) == ["scheduler", "outputs", "endpoint"]
    assert re.search(r"var useScheduler = durableBackend == 'scheduler'", infra.main.text)
    module = infra.main.modules["scheduler"]
    assert module["detail"]["path"] == "modules/scheduler.bicep"
    assert unwrap(module)[1] == "useScheduler", "the scheduler exists on the scheduler backend only"
    assert unwrap(module)[0]["params"]["taskHubName"] == "taskHub"
    scheduler = infra.files["modules/scheduler.bicep"]
    hub = unwrap(scheduler.resources["taskHub"])[0]
    assert hub["parent"] == "scheduler" and hub["name"] == "taskHubName"
    # An empty IP allow list denies every caller, whatever the roles say.
    assert re.search(r"ipAllowlist: publicNetworkAccess \? \[\s*'0\.0\.0\.0/0'\s*\] : \[\]", scheduler.text)


def test_storage_backend_keeps_one_durable_instance_ready(infra) -> None:
    """Microsoft's guidance for the Azure Storage provider on Flex Consumption."""
    ready = infra.main.var("effectiveAlwaysReadyDurable")["operator"]["operands"]
    assert ready["condition"]["operator"]["operands"] == {"operand_1": "durableBackend", "operand_2": "storage"}
    assert ready["true_value"] == {"function": {"type": "max", "parameters": {"arg_1": 1, "arg_2": "alwaysReadyDurable"}}}
    assert ready["false_value"] == "alwaysReadyDurable"
    scale = unwrap(infra.function_app.resources["site"])[0]["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert "alwaysReadyDurableGroup" in str(scale["alwaysReady"])
    assert re.search(r"name: 'durable'\s*instanceCount: alwaysReadyDurable", infra.function_app.text)


def test_worker_threads_match_the_durable_limits(infra) -> None:
    """Orchestrator and entity episodes are synchronous: each takes a thread of the Python worker
    (activities are coroutines and take none). The worker gets exactly as many threads as the
    Durable extension may hand it at once, so no work item waits on one instance while another
    idles (Microsoft's Python guidance for the maxConcurrent* settings)."""
    fa = infra.function_app
    assert fa.var("hostDurable")["operator"]["operands"]["operand_1"]["function"]["parameters"]["file_path"] == "../../host.json"
    assert re.search(
        r"var workerThreads = hostDurable\.maxConcurrentOrchestratorFunctions \+ hostDurable\.maxConcurrentEntityFunctions",
        fa.text,
    )
    assert re.search(r"PYTHON_THREADPOOL_THREAD_COUNT: string\(workerThreads\)", fa.text)
    durable = infra.host_json["extensions"]["durableTask"]
    threads = durable["maxConcurrentOrchestratorFunctions"] + durable["maxConcurrentEntityFunctions"]
    assert 1 <= threads <= 32, "the Python worker accepts 1-32 threads"
    activities = [
        path for path in (infra.root / "activities").glob("*.py")
        if re.search(r"activity_trigger\([^)]*\)\s*\ndef ", path.read_text())
    ]
    assert not activities, f"synchronous activities would take worker threads too: {activities}"


def test_devhost_runs_this_host_json(infra, monkeypatch) -> None:
    """The devhost reads hubName (resolving %PIXCRAWLER_TASK_HUB%), maxConcurrent* and
    functionTimeout from the same file, and ignores the storage provider."""
    monkeypatch.setenv("PIXCRAWLER_TASK_HUB", "localhub")
    config = HostConfig.load(infra.root)
    durable = infra.host_json["extensions"]["durableTask"]
    assert config.hub_name == "localhub"
    assert config.route_prefix == "api"
    assert config.max_activities == durable["maxConcurrentActivityFunctions"]
    assert config.max_orchestrations == durable["maxConcurrentOrchestratorFunctions"]
    assert config.function_timeout == parse_timespan(infra.host_json["functionTimeout"])


def test_extension_bundle_carries_the_scheduler_provider(infra) -> None:
    """The scheduler provider (azureManaged) ships in the GA bundle 4.x for Python apps, the range
    Microsoft's Durable Task Scheduler samples use."""
    assert infra.host_json["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)",
    }
