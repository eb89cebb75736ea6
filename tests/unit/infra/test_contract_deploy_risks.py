"""Deployment failures that Bicep can catch before anything is created (or avoid): a region
without Flex Consumption, a task hub name the runtime rejects, stale scale limits, a vault name
held by a soft-deleted vault, and the azd version that packages the app correctly."""

from __future__ import annotations

import fnmatch
import re

import pytest

from _infra import unwrap

#: Regions that offer Flex Consumption (`az functionapp list-flexconsumption-locations`, as in
#: Microsoft's Flex Consumption azd templates; 2025-10). A region added later goes in both lists.
FLEX_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia",
    "centralus", "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral",
    "italynorth", "japaneast", "koreacentral", "northcentralus", "northeurope", "norwayeast",
    "southafricanorth", "southcentralus", "southeastasia", "southindia", "spaincentral",
    "swedencentral", "uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope", "westus",
    "westus2", "westus3",
}
#: Flex Consumption: memory sizes, cores per instance, default cores per region and subscription.
MEMORY_CORES = {512: 0.25, 2048: 1, 4096: 2}
DEFAULT_REGIONAL_CORES = 250


def decorator(param: dict, kind: str):
    return next((d["argument"] for d in param["decorators"] if d["type"] == kind), None)


def test_location_is_a_flex_consumption_region(infra) -> None:
    allowed = decorator(infra.main.params["location"], "allowed")
    assert allowed is not None, "a free-text location fails late, at the Flex plan"
    assert set(allowed) == FLEX_REGIONS


# --- task hub name ---------------------------------------------------------------------------


def hub_is_valid(infra, name: str) -> bool:
    """main.bicep's rule, read from its variables: a letter, then letters and digits."""
    letters = infra.main.var("hubLetters")
    return (
        3 <= len(name) <= 45
        and name[0].lower() in letters
        and all(c.lower() in letters + "0123456789" for c in name)
    )


def test_task_hub_name_is_validated(infra) -> None:
    main = infra.main
    assert main.var("hubLetters") == "abcdefghijklmnopqrstuvwxyz"
    assert re.search(
        r"var hubChars = map\(range\(0, length\(taskHubName\)\), i => toLower\(substring\(taskHubName, i, 1\)\)\)",
        main.text,
    )
    assert re.search(
        r"var hubIsValid = contains\(hubLetters, first\(hubChars\)\) && "
        r"empty\(filter\(hubChars, c => !contains\('\$\{hubLetters\}0123456789', c\)\)\)",
        main.text,
    )
    taskhub = main.var("taskHub")["operator"]["operands"]
    assert taskhub["condition"] == "hubIsValid" and taskhub["true_value"] == "taskHubName"
    assert taskhub["false_value"]["function"]["type"] == "fail"
    param = main.params["taskHubName"]
    assert decorator(param, "min_length") == 3 and decorator(param, "max_length") == 45
    # Everything downstream uses the checked name.
    uses = [line for line in main.text.splitlines() if re.search(r"\btaskHubName\b", line)]
    unchecked = [
        line for line in uses
        if not re.search(r"param taskHubName|var hubChars|var taskHub =|taskHubName: taskHub$", line.strip())
    ]
    assert not unchecked, f"lines using the unchecked task hub name: {unchecked}"


@pytest.mark.parametrize("name, valid", [
    ("pixcrawler", True), ("PixCrawler2", True), ("pix-crawler", False), ("pix_crawler", False),
    ("2pixcrawler", False), ("ab", False), ("a" * 46, False),
])
def test_task_hub_rule(infra, name, valid) -> None:
    assert hub_is_valid(infra, name) is valid


def test_task_hub_default_is_valid(infra) -> None:
    default = infra.main.params["taskHubName"]["default"]
    azd_default = infra.parameters_json["taskHubName"]["value"].partition("=")[2].rstrip("}")
    assert hub_is_valid(infra, default) and hub_is_valid(infra, azd_default)


# --- scale limits ----------------------------------------------------------------------------


def test_instance_memory_is_current(infra) -> None:
    for bicep in (infra.main, infra.function_app):
        assert decorator(bicep.params["instanceMemoryMB"], "allowed") == sorted(MEMORY_CORES)
    assert infra.main.params["instanceMemoryMB"]["default"] == 2048


def test_instance_count_bounds(infra) -> None:
    for bicep in (infra.main, infra.function_app):
        param = bicep.params["maximumInstanceCount"]
        assert decorator(param, "min_value") == 1, "Flex Consumption allows 1 instance and up"
        assert decorator(param, "max_value") == 1000


def effective_max(infra, requested: int, memory: int, quota: int) -> int:
    """main.bicep's cap, evaluated: min(requested, (quota x 2048) / memory)."""
    assert re.search(r"var quotaInstances = \(regionalCoreQuota \* 2048\) / instanceMemoryMB", infra.main.text)
    assert re.search(r"var effectiveMaximumInstanceCount = min\(maximumInstanceCount, quotaInstances\)", infra.main.text)
    return min(requested, (quota * 2048) // memory)


@pytest.mark.parametrize("memory", sorted(MEMORY_CORES))
@pytest.mark.parametrize("requested", [1, 100, 250, 1000])
def test_instances_stay_within_the_regional_quota(infra, memory, requested) -> None:
    quota = infra.main.params["regionalCoreQuota"]["default"]
    assert quota == DEFAULT_REGIONAL_CORES
    instances = effective_max(infra, requested, memory, quota)
    assert 1 <= instances <= requested
    assert instances * MEMORY_CORES[memory] <= quota
    assert infra.module_params("modules/functionapp.bicep")["maximumInstanceCount"] == "effectiveMaximumInstanceCount"


def test_default_scale_leaves_quota_for_other_apps(infra) -> None:
    default = infra.main.params["maximumInstanceCount"]["default"]
    memory = infra.main.params["instanceMemoryMB"]["default"]
    assert default * MEMORY_CORES[memory] <= DEFAULT_REGIONAL_CORES / 2


# --- Key Vault after `azd down` --------------------------------------------------------------


def test_vault_can_be_recovered(infra) -> None:
    """A purge-protected vault deleted by `azd down` keeps its name for 90 days: creating it
    again fails, recovering it works."""
    main, vault = infra.main, infra.files["modules/keyvault.bicep"]
    assert decorator(main.params["vaultCreateMode"], "allowed") == ["default", "recover"]
    assert main.params["vaultCreateMode"]["default"] == "default"
    assert infra.parameters_json["vaultCreateMode"]["value"] == "${PIXCRAWLER_VAULT_CREATE_MODE=default}"
    assert infra.module_params("modules/keyvault.bicep")["createMode"] == "vaultCreateMode"
    (resource,) = vault.resources_of_type("Microsoft.KeyVault/vaults").values()
    props = unwrap(resource)[0]["properties"]
    assert props["createMode"] == "createMode"
    assert props["enableSoftDelete"] is True
    # Purge protection can be switched on but never off: `null` leaves it as it is.
    assert re.search(r"enablePurgeProtection: purgeProtection \? true : null", vault.text)
    doc = (infra.root / "docs" / "deploy.md").read_text()
    assert "PIXCRAWLER_VAULT_CREATE_MODE recover" in doc


# --- packaging -------------------------------------------------------------------------------


def test_azd_version_honours_funcignore(infra) -> None:
    """azd packages Function Apps with .funcignore since 1.18.0 (Azure/azure-dev#5383); 1.23.13
    fixed its parsing (BOM, negations; #7311). Older versions upload .venv, tests, infra ..."""
    match = re.search(r"^requiredVersions:\s*\n\s+azd:\s*['\"]?>=\s*(\d+)\.(\d+)\.(\d+)['\"]?\s*$", infra.azure_yaml, re.M)
    assert match, "azure.yaml pins the azd version (requiredVersions.azd)"
    assert tuple(map(int, match.groups())) >= (1, 23, 13)


def funcignore_patterns(infra) -> list[str]:
    lines = (infra.root / ".funcignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(patterns: list[str], path: str) -> bool:
    """gitignore semantics for the plain patterns used here (no negation)."""
    parts = path.split("/")
    return any(
        fnmatch.fnmatch(part, pattern.rstrip("/")) or fnmatch.fnmatch(path, pattern.rstrip("/"))
        for pattern in patterns for part in parts
    )


@pytest.mark.parametrize("path", [
    "host.json", "function_app.py", "requirements.txt", "shared/settings.py",
    "activities/crawl.py", "http_triggers/jobs.py", "orchestrators/crawl.py", "entities/checkpoint.py",
    "timers/checkpoints.py",
])
def test_funcignore_keeps_the_app(infra, path) -> None:
    assert (infra.root / path).exists()
    assert not ignored(funcignore_patterns(infra), path)


@pytest.mark.parametrize("path", [
    ".venv/lib", "tests/unit/x.py", "devhost/host.py", "infra/main.bicep", "docs/deploy.md",
    "scripts/setup", "bench/scale_model.py", "sdk/pyproject.toml", "local.settings.json",
    "node_modules/x", "README.md", "shared/__pycache__/x.pyc",
])
def test_funcignore_drops_what_the_app_does_not_run(infra, path) -> None:
    assert ignored(funcignore_patterns(infra), path)
