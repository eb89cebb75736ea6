"""network = 'private': VNet integration for the Function App, a private endpoint and private DNS
zone for every data service, and public network access off on each; 'public' keeps today's
internet-facing endpoints (identity-only auth)."""

from __future__ import annotations

import re

import pytest

from _infra import accessor_chain, unwrap

#: Private-link sub-resources of each service the app reaches, and their DNS zones.
ENDPOINTS = {
    "blob": ("blob", "privatelink.blob.${environment().suffixes.storage}"),
    "queue": ("queue", "privatelink.queue.${environment().suffixes.storage}"),
    "table": ("table", "privatelink.table.${environment().suffixes.storage}"),
    "cosmos": ("Sql", "privatelink.documents.azure.com"),
    "vault": ("vault", "privatelink.vaultcore.azure.net"),
    "scheduler": ("scheduler", "privatelink.durabletask.io"),
}


@pytest.fixture(scope="module")
def network(infra):
    return infra.files["modules/network.bicep"]


def test_network_parameter(infra) -> None:
    param = infra.main.params["network"]
    assert param["default"] == "public"
    allowed = next(d for d in param["decorators"] if d["type"] == "allowed")["argument"]
    assert allowed == ["public", "private"]
    assert infra.parameters_json["network"]["value"] == "${PIXCRAWLER_NETWORK=public}"
    assert re.search(r"var isPrivate = network == 'private'", infra.main.text)
    module = infra.main.modules["vnet"]
    assert module["detail"]["path"] == "modules/network.bicep"
    assert unwrap(module)[1] == "isPrivate", "the VNet exists only with network = private"


def test_every_service_gets_an_endpoint_and_zone(network) -> None:
    storage = {e["name"]: (e["groupId"], e["zone"]) for e in network.var("storageEndpoints")}
    text = network.text
    found = dict(storage)
    for name in ("cosmos", "vault", "scheduler"):
        match = re.search(
            rf"name: '{name}'\s*groupId: '(\w+)'\s*zone: '([^']+)'\s*target: (\w+)\.id", text
        )
        assert match, f"no private endpoint for {name}"
        found[name] = (match.group(1), match.group(2))
    assert found == ENDPOINTS
    # The scheduler's endpoint exists only on the scheduler backend.
    assert re.search(r"empty\(schedulerName\) \? \[\] : \[\s*\{\s*name: 'scheduler'", text)
    # One zone, one VNet link, one endpoint and one zone group per entry of `endpoints`.
    for symbol in ("zones", "zoneLinks", "privateEndpoints", "zoneGroups"):
        loop = unwrap(network.resources[symbol])[2]
        assert loop["detail"]["array_name"] == "endpoints", symbol
    endpoint = unwrap(network.resources["privateEndpoints"])[0]["properties"]
    connection = endpoint["privateLinkServiceConnections"][0]["properties"]
    assert accessor_chain(connection["privateLinkServiceId"]) == ["e", "target"]
    assert accessor_chain(connection["groupIds"][0]) == ["e", "groupId"]
    assert endpoint["subnet"]["id"] == "endpointSubnetId"


def test_app_subnet_is_delegated_to_flex_consumption(infra, network) -> None:
    vnet = unwrap(network.resources["vnet"])[0]
    app_subnet = next(s for s in vnet["properties"]["subnets"] if s["name"] == "app")
    delegation = app_subnet["properties"]["delegations"][0]["properties"]["serviceName"]
    assert delegation == "Microsoft.App/environments"
    site = unwrap(infra.function_app.resources["site"])[0]["properties"]
    assert "subnetId" in str(site["virtualNetworkSubnetId"])
    subnet = infra.module_params("modules/functionapp.bicep")["subnetId"]["operator"]["operands"]
    assert subnet["condition"] == "isPrivate"
    assert accessor_chain(subnet["true_value"]) == ["vnet", "outputs", "appSubnetId"]


@pytest.mark.parametrize("module, path", [
    ("storage", "modules/storage.bicep"),
    ("cosmos", "modules/cosmos.bicep"),
    ("vault", "modules/keyvault.bicep"),
    ("scheduler", "modules/scheduler.bicep"),
])
def test_private_turns_public_access_off(infra, module, path) -> None:
    """Each service gets `publicNetworkAccess: !isPrivate` and closes its public endpoint with it."""
    passed = unwrap(infra.main.modules[module])[0]["params"]["publicNetworkAccess"]
    assert passed == {"operator": {"type": "not", "operands": {"bool_value": "isPrivate"}}}
    text = infra.files[path].text
    if path == "modules/keyvault.bicep":
        # Resource Manager writes the vault's secrets during the deployment (a trusted service):
        # the firewall denies every other public caller.
        assert re.search(r"defaultAction: publicNetworkAccess \? 'Allow' : 'Deny'", text)
        assert "bypass: 'AzureServices'" in text
    else:
        assert re.search(r"publicNetworkAccess: publicNetworkAccess \? 'Enabled' : 'Disabled'", text)
    if path == "modules/storage.bicep":
        assert re.search(r"defaultAction: publicNetworkAccess \? 'Allow' : 'Deny'", text)


def test_subnets_come_from_the_address_space(infra, network) -> None:
    assert infra.module_params("modules/network.bicep")["addressPrefix"] == "vnetAddressPrefix"
    assert re.search(r"var appSubnetPrefix = '\$\{base\[0\]\}\.\$\{base\[1\]\}\.0\.0/24'", network.text)
    assert re.search(r"var endpointSubnetPrefix = '\$\{base\[0\]\}\.\$\{base\[1\]\}\.1\.0/24'", network.text)
