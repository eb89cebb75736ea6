"""No secret in outputs, parameter defaults or plain-text app settings; no listKeys()."""

from __future__ import annotations

import re

import pytest

from _infra import unwrap

#: A name that suggests a credential. "keyvault" is the service's name, not a key.
SECRET_NAME = re.compile(r"key|secret|password|connectionstring|connection_string", re.I)
#: Functions that return credentials.
LIST_FUNCTIONS = re.compile(r"\b(listKeys|listConnectionStrings|listAccountSas|listServiceSas|listSecrets|listCredentials)\s*\(", re.I)
#: Text that looks like a credential inside a literal.
KEY_LIKE = re.compile(
    r"AccountKey=|SharedAccessSignature=|SharedAccessKey=|[?&]sig=|InstrumentationKey=|"
    r"-----BEGIN|[A-Za-z0-9+/]{40,}={0,2}"
)
#: App settings whose name looks secret but whose value carries no credential.
NOT_SECRET_SETTINGS = {
    # Entra auth only (DisableLocalAuth on the component): the connection string locates the
    # endpoint; ingestion needs the identity named in APPLICATIONINSIGHTS_AUTHENTICATION_STRING.
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    # Endpoint + Authentication=ManagedIdentity + the identity's client id: no key (checked in
    # test_contract_durable.py).
    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
    # The *name* of the connection (AzureWebJobsStorage, identity-based), not a connection string.
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName",
}


def secretish(name: str) -> bool:
    return bool(SECRET_NAME.search(re.sub("keyvault", "", name, flags=re.I)))


def decorators(entry: dict) -> set[str]:
    return {d["type"] for d in entry.get("decorators", [])}


def test_no_list_functions_anywhere(infra) -> None:
    for rel, bicep in infra.files.items():
        assert not LIST_FUNCTIONS.search(bicep.text), f"{rel} reads a credential with list*()"
    for path in [infra.infra_dir / "main.parameters.json", infra.root / "azure.yaml"]:
        assert not LIST_FUNCTIONS.search(path.read_text())


def test_outputs_carry_no_secret(infra) -> None:
    for rel, bicep in infra.files.items():
        for name, output in bicep.outputs.items():
            assert "secure" not in decorators(output), f"{rel}: @secure() output {name}"
            assert not secretish(name), f"{rel}: output {name} is named like a secret"
            assert "ConnectionString" not in str(output["value"]), f"{rel}: output {name}"
            if isinstance(output["value"], str):
                assert not KEY_LIKE.search(output["value"]), f"{rel}: output {name}"


def test_parameter_defaults_carry_no_secret(infra) -> None:
    for rel, bicep in infra.files.items():
        for name, param in bicep.params.items():
            default = param.get("default")
            if "secure" in decorators(param) or secretish(name):
                assert "secure" in decorators(param), f"{rel}: {name} looks secret; mark it @secure()"
                assert default in (None, "", {}), f"{rel}: secure parameter {name} has a default value"
            if isinstance(default, str):
                assert not KEY_LIKE.search(default), f"{rel}: default of {name} looks like a key"


def test_secure_values_go_only_into_the_vault(infra) -> None:
    """A @secure() parameter of main.bicep reaches no module but the Key Vault one."""
    secure = {n for n, p in infra.main.params.items() if "secure" in decorators(p)}
    assert secure, "source API keys are @secure() parameters"
    for symbol, module in infra.main.modules.items():
        params = unwrap(module)[0]["params"]
        for name, value in params.items():
            used = set(re.findall(r"[A-Za-z_]\w*", str(value))) & secure
            if used:
                assert module["detail"]["path"] == "modules/keyvault.bicep", (
                    f"{symbol}.{name} receives the secret {sorted(used)}"
                )
    vault = infra.files["modules/keyvault.bicep"]
    for name in secure:
        assert "secure" in decorators(vault.params[name])


def test_app_settings_hold_no_literal_secret(infra) -> None:
    for name, value in infra.app_settings.items():
        literal = infra.app_setting_is_literal(name)
        if literal is not None:
            assert not KEY_LIKE.search(literal), f"{name} holds a literal that looks like a key"
        if isinstance(value, str):
            text = re.sub(r"\$\{[^}]*\}", "", value)
            assert not KEY_LIKE.search(text), f"{name} embeds a literal key"
        if secretish(name) and name not in NOT_SECRET_SETTINGS:
            assert isinstance(value, str) and value.startswith("@Microsoft.KeyVault("), (
                f"{name} looks secret: it must be a Key Vault reference"
            )


def test_parameters_file_holds_no_literal(infra) -> None:
    for name, entry in infra.parameters_json.items():
        value = entry["value"]
        assert isinstance(value, str) and value.startswith("${"), f"{name} is a literal"
        default = value[2:-1].partition("=")[2]
        if secretish(name):
            assert default == "", f"{name}: a secret has no default"


@pytest.mark.parametrize("path", ["azure.yaml", "host.json"])
def test_deployment_files_hold_no_secret(infra, path) -> None:
    text = (infra.root / path).read_text()
    assert not KEY_LIKE.search(text)
