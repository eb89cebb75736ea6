"""Every Bicep file parses (pycep-parser raises on a syntax error), and main.bicep deploys
each module that exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from _infra import parse, unwrap

ROOT = Path(__file__).resolve().parents[3]
BICEP_FILES = sorted((ROOT / "infra").rglob("*.bicep"))


def test_there_is_infra() -> None:
    names = {p.relative_to(ROOT / "infra").as_posix() for p in BICEP_FILES}
    assert "main.bicep" in names
    assert any(n.startswith("modules/") for n in names), "main.bicep is composed of modules/*.bicep"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_parses(path: Path) -> None:
    tree = parse(path.read_text())
    assert tree.get("resources") or tree.get("modules"), f"{path.name} declares nothing"


def test_every_module_is_deployed_and_exists(infra) -> None:
    used = {m["detail"]["path"] for m in infra.main.modules.values()}
    on_disk = {k for k in infra.files if k.startswith("modules/")}
    assert used <= on_disk, f"main.bicep names missing modules: {sorted(used - on_disk)}"
    assert on_disk <= used, f"modules nobody deploys: {sorted(on_disk - used)}"


def test_module_params_exist(infra) -> None:
    """A module call passes only parameters the module declares, and every parameter without
    a default (a required one)."""
    for symbol, module in infra.main.modules.items():
        target = infra.module_file(symbol)
        passed = set(unwrap(module)[0]["params"])
        declared = set(target.params)
        assert passed <= declared, f"{symbol}: unknown params {sorted(passed - declared)}"
        required = {n for n, p in target.params.items() if "default" not in p}
        assert required <= passed, f"{symbol}: required params not passed {sorted(required - passed)}"


def test_main_targets_subscription(infra) -> None:
    assert infra.main.tree["globals"]["scope"]["value"] == "subscription"
