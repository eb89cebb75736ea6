"""Least privilege: every role assignment in rbac.bicep is one of the grants below, on exactly the
scope and under exactly the condition its use needs; every grant below exists. A role broader
than its use (another role, a wider scope, an unconditional grant of a backend-specific role)
fails here, and so does a service the code uses without a role."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from shared import names
from shared.settings import Settings

from _infra import accessor_chain, unwrap

STORAGE = "Microsoft.Storage/storageAccounts"
CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
COSMOS = "Microsoft.DocumentDB/databaseAccounts"
VAULT = "Microsoft.KeyVault/vaults"
INSIGHTS = "Microsoft.Insights/components"
TASK_HUB = "Microsoft.DurableTask/schedulers/taskHubs"

ROLE_IDS = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "db58b8e5-c6ad-4a2a-8342-4190687cbf4a": "Storage Blob Delegator",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "19e7f393-937e-4f77-808e-94535e297925": "Storage Queue Data Reader",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "76199698-9eea-4c19-bc75-cec21354c6b6": "Storage Table Data Reader",
    "0ad04412-c4d5-4796-b79c-f76d14c8d402": "Durable Task Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
COSMOS_ROLES = {
    "00000000-0000-0000-0000-000000000001": "Cosmos DB Built-in Data Reader",
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
}

APP, DEPLOY, OPERATOR = "principalId", "deployPrincipalId", "operatorPrincipalId"


class Grant(NamedTuple):
    principal: str  # the rbac.bicep parameter holding the principal id
    role: str  # role name (ROLE_IDS / COSMOS_ROLES)
    scope: str  # resource type of the scope, or a Cosmos scope path
    condition: frozenset[str]  # the rbac.bicep variables that must all be true


def when(*names: str) -> frozenset[str]:
    return frozenset(names)


#: The complete set of grants: what each principal needs, and nothing more.
EXPECTED = {
    # The app: its containers, the delegation key for download URLs, the task hub of its backend.
    Grant(APP, "Storage Blob Data Contributor", CONTAINER, when()),
    Grant(APP, "Storage Blob Delegator", STORAGE, when()),
    Grant(APP, "Storage Queue Data Contributor", STORAGE, when("onStorageBackend")),
    Grant(APP, "Storage Table Data Contributor", STORAGE, when("onStorageBackend")),
    Grant(APP, "Durable Task Data Contributor", TASK_HUB, when("onScheduler")),
    Grant(APP, "Cosmos DB Built-in Data Contributor", "/dbs/{database}", when()),
    Grant(APP, "Key Vault Secrets User", VAULT, when()),
    Grant(APP, "Monitoring Metrics Publisher", INSIGHTS, when()),
    # The deployment identity: the package container only.
    Grant(DEPLOY, "Storage Blob Data Contributor", CONTAINER, when()),
    # The operator: read the data in the portal, use the dashboard, rotate secrets.
    Grant(OPERATOR, "Storage Blob Data Reader", STORAGE, when("hasOperator")),
    Grant(OPERATOR, "Storage Queue Data Reader", STORAGE, when("hasOperator", "onStorageBackend")),
    Grant(OPERATOR, "Storage Table Data Reader", STORAGE, when("hasOperator", "onStorageBackend")),
    Grant(OPERATOR, "Durable Task Data Contributor", TASK_HUB, when("hasOperator", "onScheduler")),
    Grant(OPERATOR, "Cosmos DB Built-in Data Reader", "/dbs/{database}", when("hasOperator")),
    Grant(OPERATOR, "Key Vault Secrets Officer", VAULT, when("hasOperator")),
}

#: Roles that are broader than any use here, wherever they would be granted.
BROAD = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",  # Owner
    "b24988ac-6180-42a0-ab88-20f7382dd24c",  # Contributor
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner
    "81a9662b-bebf-436f-a333-f67b29880f12",  # Storage Account Key Operator
    "17d1049b-9a84-46fb-8f53-869881c3d3ab",  # Storage Account Contributor
    "5bd9cd88-fe45-4216-938b-f97437e15450",  # DocumentDB Account Contributor
    "00482a5a-887f-4fb3-b363-3b7fe8e74483",  # Key Vault Administrator
    "f25e0fa2-a7c8-4377-a976-54943a77a395",  # Key Vault Contributor
}


@pytest.fixture(scope="module")
def rbac(infra):
    return infra.files["modules/rbac.bicep"]


def condition_vars(node: Any) -> frozenset[str]:
    """``a && b`` -> {a, b}; no condition -> {}."""
    if node is None:
        return frozenset()
    if isinstance(node, str):
        return frozenset([node])
    op = node["operator"]
    assert op["type"] == "and", f"conditions are conjunctions of named variables, got {op['type']}"
    return condition_vars(op["operands"]["operand_1"]) | condition_vars(op["operands"]["operand_2"])


def scope_symbol(node: Any) -> str:
    """The resource symbol of ``scope: x`` or ``scope: x[i]``."""
    if isinstance(node, str):
        return node
    return node["operator"]["operands"]["operand_1"]


def role_id(rbac, node: Any) -> str:
    """``subscriptionResourceId(..., roles.x)`` -> the GUID."""
    name = node["function"]["parameters"]["resource_name_1"]
    chain = accessor_chain(name)
    if chain and chain[0] == "roles":
        return rbac.var("roles")[chain[1]]
    return name


def assignments(rbac) -> list[tuple[str, Grant, Any]]:
    """(symbol, grant, loop) of every role assignment, Azure RBAC and Cosmos SQL alike."""
    out = []
    for symbol, resource in rbac.resources_of_type("Microsoft.Authorization/roleAssignments").items():
        body, condition, loop = unwrap(resource)
        props = body["properties"]
        rid = role_id(rbac, props["roleDefinitionId"])
        assert rid not in BROAD, f"{symbol}: a broad role"
        assert rid in ROLE_IDS, f"{symbol}: unknown role {rid}: add it to this test only if it is needed"
        scope = rbac.resources[scope_symbol(body["scope"])]["type"]
        out.append((symbol, Grant(props["principalId"], ROLE_IDS[rid], scope, condition_vars(condition)), loop))
    for symbol, resource in rbac.resources_of_type(f"{COSMOS}/sqlRoleAssignments").items():
        body, condition, loop = unwrap(resource)
        props = body["properties"]
        assert rbac.resources[body["parent"]]["type"] == COSMOS
        match = re.fullmatch(r"\$\{(\w+)\.id\}/sqlRoleDefinitions/\$\{(\w+)\}", props["roleDefinitionId"])
        assert match and match.group(1) == body["parent"], f"{symbol}: a built-in role of this account"
        rid = rbac.var(match.group(2))
        scope = props["scope"]
        assert isinstance(scope, str) and scope.startswith(f"${{{body['parent']}.id}}"), symbol
        path = scope.removeprefix(f"${{{body['parent']}.id}}").replace("${cosmosDatabaseName}", "{database}")
        out.append((symbol, Grant(props["principalId"], COSMOS_ROLES[rid], path or "/", condition_vars(condition)), loop))
    return out


def test_grants_are_exactly_the_needed_ones(rbac) -> None:
    found = [grant for _, grant, _ in assignments(rbac)]
    assert len(found) == len(set(found)), "a grant is declared twice"
    extra = set(found) - EXPECTED
    missing = EXPECTED - set(found)
    assert not extra, f"broader than its use (role, scope or condition): {sorted(extra)}"
    assert not missing, f"needed but not granted: {sorted(missing)}"


def test_conditions_mean_what_they_say(rbac) -> None:
    assert rbac.text.count("var onStorageBackend = durableBackend == 'storage'") == 1
    assert rbac.text.count("var onScheduler = durableBackend == 'scheduler'") == 1
    assert rbac.text.count("var hasOperator = !empty(operatorPrincipalId)") == 1


def test_app_blob_role_is_per_container_and_never_the_package(infra, rbac) -> None:
    """The app's blob role is granted on each app and host container, in a loop over exactly
    those names; the deployment package container is not among them."""
    (symbol, grant, loop), = [
        a for a in assignments(rbac) if a[1].principal == APP and a[1].scope == CONTAINER
    ]
    assert loop is not None and loop["detail"]["array_name"] == "containerNames"
    containers = unwrap(rbac.resources["containers"])
    assert containers[2]["detail"]["array_name"] == "containerNames"
    assert re.search(r"var containerNames = concat\(appContainers, hostContainers\)", rbac.text)
    params = infra.module_params("modules/rbac.bicep")
    assert params["appContainers"] == "appBlobContainers"
    assert params["hostContainers"] == "hostBlobContainers"
    assert tuple(infra.main.var("appBlobContainers")) == names.BLOB_CONTAINERS
    host_text = re.search(r"var hostBlobContainers = concat\((.*?)\n\)\n", infra.main.text, re.S).group(1)
    assert "app-package" not in host_text and "deploymentContainerName" not in host_text
    assert "azure-webjobs-hosts" in host_text and "azure-webjobs-secrets" in host_text
    for suffix in ("-leases", "-applease", "-largemessages"):  # the Azure Storage provider's containers
        assert f"${{toLower(taskHub)}}{suffix}" in host_text


def test_package_container_is_the_deployment_identitys_only(infra, rbac) -> None:
    deploys = [a for a in assignments(rbac) if a[1].principal == DEPLOY]
    assert len(deploys) == 1
    body = unwrap(rbac.resources[deploys[0][0]])[0]
    assert body["scope"] == "deploymentContainer"
    assert unwrap(rbac.resources["deploymentContainer"])[0]["name"] == "deploymentContainerName"
    params = infra.module_params("modules/rbac.bicep")
    assert params["deploymentContainerName"] == "deploymentContainerName"
    assert accessor_chain(params["deployPrincipalId"]) == ["deployIdentity", "outputs", "principalId"]
    # The Function App writes and reads its package with that identity, not the app's.
    app = infra.module_params("modules/functionapp.bicep")
    assert accessor_chain(app["deployIdentityId"]) == ["deployIdentity", "outputs", "id"]
    site = unwrap(infra.function_app.resources["site"])[0]
    auth = site["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert auth == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "deployIdentityId"}
    assert infra.main.modules["deployIdentity"]["detail"]["path"] == "modules/identity.bicep"


# --- which services the code uses ------------------------------------------------------------

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
#: service -> the app identity's grant that serves it.
SERVICE_GRANTS = {
    "blob": ("Storage Blob Data Contributor", CONTAINER),
    "queue": ("Storage Queue Data Contributor", STORAGE),
    "table": ("Storage Table Data Contributor", STORAGE),
    "cosmos": ("Cosmos DB Built-in Data Contributor", "/dbs/{database}"),
    "keyvault": ("Key Vault Secrets User", VAULT),
    "monitoring": ("Monitoring Metrics Publisher", INSIGHTS),
}


def services_the_code_touches(infra) -> set[str]:
    """Services the app code reaches directly (not through the durable runtime)."""
    found: set[str] = set()
    fields = set(Settings.model_fields)
    if any(f.startswith("cosmos_") for f in fields):
        found.add("cosmos")
    if any(f.startswith("blob_") for f in fields):
        found.add("blob")
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


def test_the_code_touches_the_expected_services(infra) -> None:
    assert {"cosmos", "blob", "keyvault", "monitoring"} <= services_the_code_touches(infra)


@pytest.mark.parametrize("service", sorted(SERVICE_GRANTS))
def test_role_for_each_service(infra, rbac, service) -> None:
    """An unconditional app role for each service the code reaches, none for one it does not;
    queues and tables are the storage backend's (conditional) alone."""
    role, scope = SERVICE_GRANTS[service]
    grants = {(g.role, g.scope): g.condition for _, g, _ in assignments(rbac) if g.principal == APP}
    if service in services_the_code_touches(infra):
        assert grants.get((role, scope)) == frozenset(), f"the app identity needs {role} for {service}"
    elif service in ("queue", "table"):
        assert grants.get((role, scope)) == when("onStorageBackend"), f"{service}: the task hub's only"
    else:
        assert (role, scope) not in grants, f"the app does not use {service}: drop its role"


def test_download_links_need_the_delegation_key(infra) -> None:
    """shared/storage signs dataset links with a user delegation key: the one account-scope
    blob permission the app holds (Storage Blob Delegator grants nothing else)."""
    text = (infra.root / "shared" / "storage" / "blob.py").read_text()
    assert "get_user_delegation_key" in text


def test_scoped_resources_are_the_deployed_ones(infra, rbac) -> None:
    """rbac.bicep grants on existing resources named by main.bicep from the other modules."""
    for symbol in ("storage", "cosmos", "vault", "appInsights", "scheduler", "taskHub", "deploymentContainer"):
        assert rbac.resources[symbol]["existing"] is True
    params = infra.module_params("modules/rbac.bicep")
    assert accessor_chain(params["storageAccountName"])[0] == infra.module_symbol("modules/storage.bicep")
    assert accessor_chain(params["cosmosAccountName"])[0] == infra.module_symbol("modules/cosmos.bicep")
    assert accessor_chain(params["cosmosDatabaseName"]) == ["cosmos", "outputs", "databaseName"]
    assert accessor_chain(params["vaultName"])[0] == infra.module_symbol("modules/keyvault.bicep")
    assert accessor_chain(params["applicationInsightsName"])[0] == infra.module_symbol("modules/monitoring.bicep")
    assert params["taskHubName"] == "taskHub" and params["durableBackend"] == "durableBackend"
    task_hub = unwrap(rbac.resources["taskHub"])[0]
    assert task_hub["parent"] == "scheduler" and task_hub["name"] == "taskHubName"


def test_roles_go_to_the_apps_own_identity(infra) -> None:
    """The principal that gets the app roles is the identity the Function App runs as."""
    identity = "identity"
    assert infra.main.modules[identity]["detail"]["path"] == "modules/identity.bicep"
    rbac_params = infra.module_params("modules/rbac.bicep")
    app_params = infra.module_params("modules/functionapp.bicep")
    assert accessor_chain(rbac_params["principalId"]) == [identity, "outputs", "principalId"]
    assert accessor_chain(app_params["identityId"]) == [identity, "outputs", "id"]
    assert accessor_chain(app_params["identityClientId"]) == [identity, "outputs", "clientId"]
    api = infra.main.modules[infra.module_symbol("modules/functionapp.bicep")]["config"]
    assert "rbac" in str(api.get("depends_on", api.get("dependsOn", ""))), (
        "the app must wait for its roles (vault references, package download)"
    )


def test_operator_is_the_deploying_principal(infra) -> None:
    """azd fills AZURE_PRINCIPAL_ID / AZURE_PRINCIPAL_TYPE with whoever runs `azd provision`."""
    params = infra.module_params("modules/rbac.bicep")
    assert params["operatorPrincipalId"] == "principalId"
    assert params["operatorPrincipalType"] == "principalType"
    given = infra.parameters_json
    assert given["principalId"]["value"] == "${AZURE_PRINCIPAL_ID=}"
    assert given["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    assert infra.main.params["principalId"]["default"] == ""


def test_no_broad_role_anywhere(infra) -> None:
    for rel, bicep in infra.files.items():
        for guid in BROAD:
            assert guid not in bicep.text, f"{rel} names a broad role ({guid})"
