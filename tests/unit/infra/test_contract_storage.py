"""The storage the code names (shared/names.py, shared.models) is the storage infra provisions."""

from __future__ import annotations

import re

import pytest

from shared import names
from shared.models import ImageRecord, Job
from shared.settings import Settings

from _infra import accessor_chain, unwrap

#: Fields the code filters or sorts on (jobs: list/filter by status, newest first; images:
#: by label, flags, time, and content hash). They must stay indexed.
QUERIED = {
    "jobs": ["user_id", "status", "created_at"],
    "images": ["job_id", "label", "is_duplicate", "is_valid", "created_at", "sha256"],
}
#: The model each container stores: excluded index paths must name real fields.
MODELS = {"jobs": Job, "images": ImageRecord}


@pytest.fixture(scope="module")
def cosmos(infra):
    return infra.files["modules/cosmos.bicep"]


@pytest.fixture(scope="module")
def container_specs(cosmos) -> dict[str, dict]:
    specs = {}
    for spec in cosmos.var("containerSpecs"):
        policy = spec["indexingPolicy"]
        if isinstance(policy, str):
            policy = cosmos.var(policy)
        specs[spec["name"]] = {"partitionKey": spec["partitionKey"], "indexingPolicy": policy}
    return specs


def test_cosmos_containers_loop_deploys_the_specs(cosmos) -> None:
    loops = cosmos.resources_of_type("Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")
    assert len(loops) == 1
    body, condition, loop = unwrap(next(iter(loops.values())))
    assert condition is None
    assert loop["detail"]["array_name"] == "containerSpecs"
    item = loop["detail"]["item_name"]
    union = body["properties"]["resource"]["function"]
    assert union["type"] == "union"
    resource = union["parameters"]["arg_1"]
    assert accessor_chain(body["name"]) == [item, "name"]
    assert accessor_chain(resource["id"]) == [item, "name"]
    assert accessor_chain(resource["partitionKey"]["paths"][0]) == [item, "partitionKey"]
    assert accessor_chain(resource["indexingPolicy"]) == [item, "indexingPolicy"]
    assert "defaultTtl" not in resource, "defaultTtl is added only where a spec sets it"


def test_default_ttl_is_never_sent_as_null(cosmos) -> None:
    """An explicit `defaultTtl: null` reaches the resource provider as a value (reported to fail
    or to switch TTL on): a container without TTL leaves the key out, one with TTL sets -1."""
    assert not re.search(r"defaultTtl:\s*null", cosmos.text)
    minus_one = {"operator": {"type": "minus", "operands": {"integer_value": 1}}}  # pycep's -1
    with_ttl = {spec["name"]: spec["defaultTtl"] for spec in cosmos.var("containerSpecs") if "defaultTtl" in spec}
    assert with_ttl == {"notifications": minus_one, "rate_limits": minus_one}
    assert re.search(
        r"contains\(spec, 'defaultTtl'\) \? \{\s*defaultTtl: spec\.defaultTtl\s*\} : \{\}", cosmos.text
    ), "the loop adds defaultTtl only for the specs that carry it"


def test_images_skip_the_window_hashes(container_specs) -> None:
    """`windows` (sub-window pHashes for crop detection) is a list compared in memory: indexing it
    would cost RU on every image write for no query."""
    excluded = [p["path"] for p in container_specs["images"]["indexingPolicy"]["excludedPaths"]]
    assert "/windows/*" in excluded


@pytest.mark.parametrize("container, partition_key", sorted(names.COSMOS_CONTAINERS.items()))
def test_every_cosmos_container_is_provisioned(container_specs, container, partition_key) -> None:
    assert container in container_specs, f"infra provisions no Cosmos container {container!r}"
    assert container_specs[container]["partitionKey"] == partition_key


def test_no_cosmos_container_the_code_does_not_name(container_specs) -> None:
    assert set(container_specs) == set(names.COSMOS_CONTAINERS)


def test_database_name_is_the_apps(infra, cosmos) -> None:
    expected = names.COSMOS_DATABASE_DEFAULT
    assert Settings.model_fields["cosmos_database"].default == expected
    assert infra.main.var("cosmosDatabaseName") == expected
    assert infra.module_params("modules/cosmos.bicep")["databaseName"] == "cosmosDatabaseName"


def _covered(path: str, excluded: list[str]) -> bool:
    """Is /field/? covered by an excluded path (/field/?, /field/*, /*)?"""
    field = path.strip("/").split("/")[0]
    return any(e in ("/*", f"/{field}/?", f"/{field}/*") for e in excluded)


@pytest.mark.parametrize("container", sorted(QUERIED))
def test_queried_paths_are_indexed(container_specs, container) -> None:
    policy = container_specs[container]["indexingPolicy"]
    included = [p["path"] for p in policy["includedPaths"]]
    excluded = [p["path"] for p in policy["excludedPaths"]]
    assert policy["indexingMode"] == "consistent"
    wanted = QUERIED[container] + [names.COSMOS_CONTAINERS[container].strip("/")]
    for field in wanted:
        assert not _covered(f"/{field}/?", excluded), f"{container}: /{field} is queried but excluded"
        assert "/*" in included or f"/{field}/?" in included, f"{container}: /{field} not indexed"


@pytest.mark.parametrize("container", sorted(MODELS))
def test_excluded_paths_are_real_unqueried_fields(container_specs, container) -> None:
    policy = container_specs[container]["indexingPolicy"]
    fields = set(MODELS[container].model_fields)
    for entry in policy["excludedPaths"]:
        top = entry["path"].strip("/").split("/")[0].strip('"')
        if top == "_etag":
            continue
        assert top in fields, f"{container}: excluded path {entry['path']} names no model field"
        assert top not in QUERIED[container]
    assert len(policy["excludedPaths"]) > 1, f"{container}: exclude the large unqueried paths"


@pytest.mark.parametrize("container", sorted(QUERIED))
def test_composite_indexes_use_queried_fields(container_specs, container) -> None:
    composites = container_specs[container]["indexingPolicy"].get("compositeIndexes", [])
    assert composites, f"{container}: list queries sort by created_at; add composite indexes"
    for index in composites:
        for part in index:
            assert part["path"].strip("/") in QUERIED[container] + ["user_id"]
            assert part["order"] in ("ascending", "descending")


def test_cosmos_account_is_keyless_and_serverless_by_default(cosmos) -> None:
    (account,) = cosmos.resources_of_type("Microsoft.DocumentDB/databaseAccounts").values()
    props = unwrap(account)[0]["properties"]
    assert props["disableLocalAuth"] is True
    assert props["disableKeyBasedMetadataWriteAccess"] is True
    assert cosmos.params["serverless"]["default"] is True
    assert "default" in cosmos.params["autoscaleMaxThroughput"]
    assert "EnableServerless" in cosmos.text


# --- Blob ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def storage(infra):
    return infra.files["modules/storage.bicep"]


def test_blob_container_loops_deploy_the_lists(infra, storage) -> None:
    """One loop creates the app's containers, one the host's and the task hub's (so that roles
    can be granted per container), from the lists main.bicep passes."""
    loops = {
        unwrap(r)[2]["detail"]["array_name"]: unwrap(r)
        for r in storage.resources_of_type(
            "Microsoft.Storage/storageAccounts/blobServices/containers").values()
        if unwrap(r)[2] is not None
    }
    assert set(loops) == {"appContainers", "hostContainers"}
    for body, condition, loop in loops.values():
        assert condition is None
        assert body["name"] == loop["detail"]["item_name"]
        assert body["properties"]["publicAccess"] == "None"
    params = infra.module_params("modules/storage.bicep")
    assert params["appContainers"] == "appBlobContainers"
    assert params["hostContainers"] == "hostBlobContainers"


@pytest.mark.parametrize("container", names.BLOB_CONTAINERS)
def test_every_blob_container_is_provisioned(infra, container) -> None:
    assert container in infra.main.var("appBlobContainers"), f"infra provisions no Blob container {container!r}"


def test_no_blob_container_the_code_does_not_name(infra) -> None:
    assert set(infra.main.var("appBlobContainers")) == set(names.BLOB_CONTAINERS)


def test_deployment_package_container(infra, storage) -> None:
    deployment = storage.resources["deploymentContainer"]
    assert unwrap(deployment)[0]["name"] == "deploymentContainerName"
    site = unwrap(infra.function_app.resources["site"])[0]
    package = site["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert package["value"].endswith("${deploymentContainerName}")
    assert package["authentication"]["type"] == "UserAssignedIdentity"
    assert package["authentication"]["userAssignedIdentityResourceId"] == "deployIdentityId"


def test_storage_account_hardening(storage) -> None:
    (account,) = storage.resources_of_type("Microsoft.Storage/storageAccounts").values()
    props = unwrap(account)[0]["properties"]
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    assert props["allowSharedKeyAccess"] is False
    assert props["supportsHttpsTrafficOnly"] is True
    blob = unwrap(storage.resources["blobService"])[0]["properties"]
    assert blob["deleteRetentionPolicy"]["enabled"] is True
    assert blob["containerDeleteRetentionPolicy"]["enabled"] is True


def test_checkpoint_lifecycle_mirrors_the_timers(storage) -> None:
    """Cool at 30 days, optional Cold/Archive (off by default), delete at 90, only for the
    checkpoints container."""
    assert "checkpoints" in names.BLOB_CONTAINERS
    policy = unwrap(storage.resources["lifecycle"])[0]["properties"]["policy"]
    (rule,) = policy["rules"]
    assert rule["enabled"] is True
    assert rule["definition"]["filters"]["prefixMatch"] == ["checkpoints/"]
    actions = storage.resolve_object(rule["definition"]["actions"]["baseBlob"])
    assert actions["tierToCool"]["daysAfterModificationGreaterThan"] == "checkpointCoolAfterDays"
    assert actions["tierToCold"]["daysAfterModificationGreaterThan"] == "checkpointColdAfterDays"
    assert actions["tierToArchive"]["daysAfterModificationGreaterThan"] == "checkpointArchiveAfterDays"
    assert actions["delete"]["daysAfterModificationGreaterThan"] == "checkpointDeleteAfterDays"
    defaults = {n: storage.params[n]["default"] for n in storage.params if n.startswith("checkpoint")}
    assert defaults == {
        "checkpointCoolAfterDays": 30,
        "checkpointColdAfterDays": 0,
        "checkpointArchiveAfterDays": 0,
        "checkpointDeleteAfterDays": 90,
    }
    # The optional tiers exist only when their day count is set.
    assert re.search(r"coldAction = \(checkpointColdAfterDays > 0\) \?", storage.text)
    assert re.search(r"archiveAction = \(checkpointArchiveAfterDays > 0\) \?", storage.text)
