"""Every setting the app reads on Azure is set on the Function App, and nothing local-only is."""

from __future__ import annotations

import re
import typing

import pytest
from pydantic import SecretStr

from shared.settings import ENV_PREFIX, Settings

#: Connection-related fields: optional in the model (local runs use other ones) but needed on Azure.
CONNECTION = {"cosmos_endpoint", "cosmos_database", "blob_account_url", "azure_client_id"}
#: Azure verifies Entra ID tokens: the OIDC trio must be set (through Key Vault references).
AUTH = {"auth_oidc_issuer", "auth_jwks_url", "auth_audience"}
#: Local-only settings: a key or a relaxed guard that must never reach Azure.
LOCAL_ONLY = {
    "cosmos_key": "Cosmos keys are disabled; the app uses its identity",
    "blob_connection_string": "shared-key access is disabled; the app uses its identity",
    "auth_hs256_secret": "the shared-secret issuer is for local use only",
    "fetch_allow_networks": "the SSRF guard must not let private networks through on Azure",
    "cosmos_verify_tls": "TLS verification stays on",
}
#: Settings the host or the Python worker (not shared.settings) reads.
HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",
    "PYTHON_THREADPOOL_THREAD_COUNT",
}
#: The documented way to override a host.json value from app settings.
HOST_JSON_OVERRIDE = "AzureFunctionsJobHost__"


def env(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def is_secret(field: str) -> bool:
    annotation = Settings.model_fields[field].annotation
    return SecretStr in (annotation, *typing.get_args(annotation))


def test_required_fields_are_set(infra) -> None:
    """Read at test time: a field someone adds without a default must be set by infra."""
    required = {n for n, f in Settings.model_fields.items() if f.is_required()}
    assert required, "Settings should have required fields (cosmos_endpoint at least)"
    missing = sorted(env(n) for n in required if env(n) not in infra.app_settings)
    assert not missing, f"Settings without a default that infra does not set: {missing}"


@pytest.mark.parametrize("field", sorted(CONNECTION | AUTH))
def test_connection_and_auth_fields_are_set(infra, field) -> None:
    assert field in Settings.model_fields, f"{field} is no longer a Settings field: update this test"
    assert env(field) in infra.app_settings


def test_secret_fields_come_from_key_vault(infra) -> None:
    """Every SecretStr field that belongs on Azure is a Key Vault reference (source API keys
    included: a new one fails here until infra references it)."""
    for name in Settings.model_fields:
        if not is_secret(name) or name in LOCAL_ONLY:
            continue
        value = infra.app_settings.get(env(name))
        assert value is not None, f"{env(name)} (a secret) is not set from Key Vault"
        assert isinstance(value, str) and value.startswith("@Microsoft.KeyVault("), env(name)


@pytest.mark.parametrize("field", sorted(AUTH))
def test_auth_settings_are_vault_references(infra, field) -> None:
    value = infra.app_settings[env(field)]
    assert value.startswith("@Microsoft.KeyVault(VaultName=${vaultName};SecretName=")


def test_every_vault_reference_names_a_provisioned_secret(infra) -> None:
    vault = infra.files["modules/keyvault.bicep"]
    declared = {
        r["config"].get("name") or r["config"]["config"]["name"]
        for r in vault.resources_of_type("Microsoft.KeyVault/vaults/secrets").values()
    }
    refs = {k: v for k, v in infra.app_settings.items()
            if isinstance(v, str) and v.startswith("@Microsoft.KeyVault(")}
    assert refs
    for setting, value in refs.items():
        secret = re.search(r"SecretName=([^;)]+)", value).group(1)
        assert secret in declared, f"{setting} references secret {secret!r} that keyvault.bicep never writes"


def test_optional_vault_secrets_and_settings_share_a_condition(infra) -> None:
    """A source key's secret is written only when given, and its setting exists only then:
    a reference to a missing secret would hand the app the reference text as a key."""
    vault = infra.files["modules/keyvault.bicep"]
    for symbol, resource in vault.resources_of_type("Microsoft.KeyVault/vaults/secrets").items():
        config = resource["config"]
        if "condition" not in config:
            continue
        condition = config["condition"]["operator"]
        assert condition["type"] == "not", f"{symbol}: write the secret if (!empty(<param>))"
        param = condition["operands"]["bool_value"]["function"]["parameters"]["item_to_test"]
        secret = config["config"]["name"]
        pattern = rf"empty\({param}\) \? \{{\}} : \{{\s*(\w+): '{secret}'"
        assert re.search(pattern, infra.main.text), f"{secret}: its setting must depend on empty({param})"
        assert infra.module_params("modules/keyvault.bicep")[param] == param


@pytest.mark.parametrize("field", sorted(LOCAL_ONLY))
def test_local_only_settings_are_not_set(infra, field) -> None:
    assert field in Settings.model_fields, f"{field} is no longer a Settings field: update this test"
    assert env(field) not in infra.app_settings, f"{env(field)}: {LOCAL_ONLY[field]}"


def test_base_urls_keep_their_public_defaults(infra) -> None:
    """Tests point *_base_url at 127.0.0.1; on Azure they keep the public endpoints."""
    for name in Settings.model_fields:
        if name.endswith("_base_url"):
            assert env(name) not in infra.app_settings


def test_every_app_setting_is_read_by_someone(infra) -> None:
    """A setting that no Settings field, no host.json %reference% or connection name, and no
    host reads is a typo."""
    host_refs = set(re.findall(r"%([A-Za-z0-9_]+)%", str(infra.host_json)))
    connection = infra.host_json["extensions"]["durableTask"]["storageProvider"]["connectionStringName"]
    known = {env(n) for n in Settings.model_fields} | host_refs | HOST_SETTINGS | {connection}
    unknown = sorted(k for k in infra.app_settings if k not in known and not k.startswith(HOST_JSON_OVERRIDE))
    assert not unknown, f"app settings nothing reads: {unknown}"


def test_identity_based_host_storage(infra) -> None:
    s = infra.app_settings
    assert "AzureWebJobsStorage" not in s, "no connection string for the host"
    assert s["AzureWebJobsStorage__credential"] == "managedidentity"
    assert infra.app_setting_is_literal("AzureWebJobsStorage__credential") == "managedidentity"
    assert s["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert s["AZURE_CLIENT_ID"] == s[env("azure_client_id")] == "identityClientId"
    assert s["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"


def test_function_app_is_flex_consumption_python_311(infra) -> None:
    fa = infra.function_app
    plan = fa.resources["plan"]["config"]
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True
    site = fa.resources["site"]["config"]
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    props = site["properties"]
    assert props["keyVaultReferenceIdentity"] == "identityId"
    assert props["httpsOnly"] is True
    config = props["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    scale = config["scaleAndConcurrency"]
    assert scale["instanceMemoryMB"] == "instanceMemoryMB"
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"
    passed = infra.module_params("modules/functionapp.bicep")
    for name in ("instanceMemoryMB", "alwaysReadyHttp"):
        assert name in fa.params and name in infra.main.params
        assert passed[name] == name
    # Both are adjusted in main.bicep: the quota cap and the storage backend's always-ready 1.
    assert passed["maximumInstanceCount"] == "effectiveMaximumInstanceCount"
    assert passed["alwaysReadyDurable"] == "effectiveAlwaysReadyDurable"
    assert infra.main.params["alwaysReadyHttp"]["default"] == 0  # optional


# --- host.json, azure.yaml, main.parameters.json --------------------------------------------


def test_host_json_is_production_fit(infra) -> None:
    host = infra.host_json
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    durable = host["extensions"]["durableTask"]
    assert durable["hubName"] == "%PIXCRAWLER_TASK_HUB%"
    assert "PIXCRAWLER_TASK_HUB" in infra.app_settings
    for ref in re.findall(r"%([A-Za-z0-9_]+)%", str(host)):
        assert ref in infra.app_settings, f"host.json reads %{ref}% but infra does not set it"


def test_host_concurrency_is_explained(infra) -> None:
    """docs/deploy.md explains each concurrency value host.json sets, and the storage backend's
    partition count and polling interval."""
    durable = infra.host_json["extensions"]["durableTask"]
    doc = (infra.root / "docs" / "deploy.md").read_text()
    for key in ("maxConcurrentActivityFunctions", "maxConcurrentOrchestratorFunctions", "maxConcurrentEntityFunctions"):
        value = durable[key]
        assert isinstance(value, int) and value > 0
        assert re.search(rf"{key}\D+{value}\b", doc), f"docs/deploy.md does not explain {key} = {value}"
    storage = infra.function_app.var("storageBackendSettings")
    partitions = storage[f"{HOST_JSON_OVERRIDE}extensions__durableTask__storageProvider__partitionCount"]
    assert 1 <= int(partitions) <= 16
    assert re.search(rf"partitionCount\D+{partitions}\b", doc)
    assert "maxQueuePollingInterval" in doc


def test_azure_yaml_deploys_the_function_app(infra) -> None:
    text = infra.azure_yaml
    services = text.split("services:", 1)[1]
    assert re.search(r"^\s{2}api:\s*$", services, re.M)
    for line in ("project: .", "language: python", "host: function"):
        assert re.search(rf"^\s{{4}}{re.escape(line)}\s*$", services, re.M), line
    assert re.search(r"^\s{2}path: infra\s*$", text, re.M)


def test_parameters_file_matches_main(infra) -> None:
    params = infra.main.params
    given = infra.parameters_json
    assert set(given) <= set(params), f"unknown parameters: {sorted(set(given) - set(params))}"
    required = {n for n, p in params.items() if "default" not in p}
    assert required <= set(given), f"required parameters azd cannot fill: {sorted(required - set(given))}"
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"
    for name, entry in given.items():
        assert re.fullmatch(r"\$\{[A-Z0-9_]+(=[^}]*)?\}", entry["value"]), (
            f"{name}: parameters come from the azd environment, never a literal"
        )
