"""Each Azure service the app touches has the matching data-plane role for the app's identity."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.settings import Settings

from _infra import accessor_chain, unwrap

STORAGE = "Microsoft.Storage/storageAccounts"
COSMOS = "Microsoft.DocumentDB/databaseAccounts"
VAULT = "Microsoft.KeyVault/vaults"
INSIGHTS = "Microsoft.Insights/components"

#: service -> (role definition id, type of the resource it is granted on)
ROLES = {
    "blob": ("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", STORAGE),  # Storage Blob Data Owner
    "queue": ("974c5e8b-45b9-4653-ba55-5f855dd0fb88", STORAGE),  # Storage Queue Data Contributor
    "table": ("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", STORAGE),  # Storage Table Data Contributor
    "keyvault": ("4633458b-17de-408a-b874-0445c86b69e6", VAULT),  # Key Vault Secrets User
    "monitoring": ("3913510d-42f4-4e42-8a64-420c390055eb", INSIGHTS),  # Monitoring Metrics Publisher
}
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"

#: Python imports -> the service they reach.
IMPORTS = {
    r"azure\.cosmos": "cosmos",
    r"azure\.storage\.blob": "blob",
    r"azure\.storage\.queue": "queue",
    r"azure\.data\.tables": "table",
    r"azure\.keyvault": "keyvault",
    r"azure\.monitor": "monitoring",
}
APP_DIRS = ("shared", "activities", "http_triggers", "orchestrators", "entities", "timers")


def services_the_code_touches(infra) -> set[str]:
    found: set[str] = set()
    fields = set(Settings.model_fields)
    if any(f.startswith("cosmos_") for f in fields):
        found.add("cosmos")
    if any(f.startswith("blob_") for f in fields):
        found.add("blob")
    if "durableTask" in infra.host_json.get("extensions", {}):
        found |= {"blob", "queue", "table"}  # the task hub: leases, queues, history tables
    settings = infra.app_settings
    if any(isinstance(v, str) and v.startswith("@Microsoft.KeyVault(") for v in settings.values()):
        found.add("keyvault")
    if "Authorization=AAD" in str(settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")):
        found.add("monitoring")
    sources: list[Path] = [infra.root / "function_app.py"]
    for folder in APP_DIRS:
        sources += (infra.root / folder).rglob("*.py")
    for path in sources:
        if not path.exists():
            continue
        text = path.read_text(errors="replace")
        for pattern, service in IMPORTS.items():
            if re.search(rf"^\s*(from|import)\s+{pattern}", text, re.M):
                found.add(service)
    return found


@pytest.fixture(scope="module")
def rbac(infra):
    return infra.files["modules/rbac.bicep"]


def granted(rbac) -> set[tuple[str, str]]:
    """(role id, scope resource type) of every unconditional role assignment to principalId."""
    out = set()
    for resource in rbac.resources_of_type("Microsoft.Authorization/roleAssignments").values():
        body, condition, loop = unwrap(resource)
        if condition is not None or loop is not None:
            continue
        props = body["properties"]
        if props["principalId"] != "principalId":
            continue
        role = props["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        scope_type = rbac.resources[body["scope"]]["type"]
        out.add((role, scope_type))
    return out


def test_the_code_touches_the_expected_services(infra) -> None:
    assert {"cosmos", "blob", "queue", "table", "keyvault", "monitoring"} <= services_the_code_touches(infra)


@pytest.mark.parametrize("service", sorted(ROLES))
def test_role_for_each_service(infra, rbac, service) -> None:
    """A role for every service the code uses, and none for a service it does not (least
    privilege)."""
    if service in services_the_code_touches(infra):
        assert ROLES[service] in granted(rbac), f"the app identity has no {service} role on a {ROLES[service][1]}"
    else:
        assert ROLES[service] not in granted(rbac), f"the app does not use {service}: drop its role"


def test_cosmos_sql_role_assignment(infra, rbac) -> None:
    assert "cosmos" in services_the_code_touches(infra)
    found = []
    for resource in rbac.resources_of_type(f"{COSMOS}/sqlRoleAssignments").values():
        body, condition, loop = unwrap(resource)
        assert condition is None and loop is None
        assert rbac.resources[body["parent"]]["type"] == COSMOS
        props = body["properties"]
        if props["principalId"] == "principalId" and props["roleDefinitionId"].endswith(
            f"/sqlRoleDefinitions/{COSMOS_DATA_CONTRIBUTOR}"
        ):
            assert accessor_chain(props["scope"]) == [body["parent"], "id"]
            found.append(body)
    assert found, "the app identity has no Cosmos DB Built-in Data Contributor role"


def test_scoped_resources_are_the_deployed_ones(infra, rbac) -> None:
    """rbac.bicep grants on existing resources named by main.bicep from the other modules."""
    for symbol in ("storage", "cosmos", "vault", "appInsights"):
        assert rbac.resources[symbol]["existing"] is True
    params = infra.module_params("modules/rbac.bicep")
    assert accessor_chain(params["storageAccountName"])[0] == infra.module_symbol("modules/storage.bicep")
    assert accessor_chain(params["cosmosAccountName"])[0] == infra.module_symbol("modules/cosmos.bicep")
    assert accessor_chain(params["vaultName"])[0] == infra.module_symbol("modules/keyvault.bicep")
    assert accessor_chain(params["applicationInsightsName"])[0] == infra.module_symbol(
        "modules/monitoring.bicep"
    )


def test_roles_go_to_the_apps_own_identity(infra) -> None:
    """The principal that gets the roles is the identity the Function App runs as."""
    identity = infra.module_symbol("modules/identity.bicep")
    rbac_params = infra.module_params("modules/rbac.bicep")
    app_params = infra.module_params("modules/functionapp.bicep")
    assert accessor_chain(rbac_params["principalId"]) == [identity, "outputs", "principalId"]
    assert accessor_chain(app_params["identityId"]) == [identity, "outputs", "id"]
    assert accessor_chain(app_params["identityClientId"]) == [identity, "outputs", "clientId"]
    api = infra.main.modules[infra.module_symbol("modules/functionapp.bicep")]["config"]
    assert "rbac" in str(api.get("depends_on", api.get("dependsOn", ""))), (
        "the app must wait for its roles (vault references, package download)"
    )


def test_no_broad_roles(rbac) -> None:
    """No Owner / Contributor / account-key roles."""
    broad = {
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",  # Owner
        "b24988ac-6180-42a0-ab88-20f7382dd24c",  # Contributor
        "81a9662b-bebf-436f-a333-f67b29880f12",  # Storage Account Key Operator
        "17d1049b-9a84-46fb-8f53-869881c3d3ab",  # Storage Account Contributor
        "5bd9cd88-fe45-4216-938b-f97437e15450",  # DocumentDB Account Contributor
    }
    assert not broad & {role for role, _ in granted(rbac)}
    assert not any(g in rbac.text for g in broad)
