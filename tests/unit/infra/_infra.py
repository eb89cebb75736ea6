"""Read infra/*.bicep as data for the contract tests.

pycep-parser turns a Bicep file into a JSON tree but does not evaluate it, and it writes an
identifier (``identityClientId``) and a string literal (``'managedidentity'``) the same way.
The helpers here resolve just what the tests need: variables, ``union()``, conditionals (both
branches: a setting that may be present counts), ``toObject(items(x), ...)`` over a module
parameter, module parameters passed from main.bicep, and whether a value is a literal (read
from the source text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pycep import BicepParser

_PARSER = BicepParser()  # building the grammar takes most of a second: do it once


def parse(text: str) -> dict[str, Any]:
    """The JSON tree of a Bicep text; raises on a syntax error."""
    return _PARSER.parse(text=text)


def unwrap(resource: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """(body, condition, loop) of a resource or module: pycep nests conditional and looped
    bodies one level down."""
    config = resource["config"]
    if "loop_type" in config:
        return config["config"], config.get("condition"), config["loop_type"]
    if "condition" in config and "config" in config:
        return config["config"], config["condition"], None
    return config, None, None


def walk(node: Any):
    """Every dict and list inside ``node`` (``node`` included)."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def accessor_chain(node: Any) -> list[str] | None:
    """``a.b.c`` as ['a', 'b', 'c'] (pycep nests property accessors to the right)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        ops = node["operator"]["operands"]
        rest = accessor_chain(ops["operand_2"])
        if isinstance(ops["operand_1"], str) and rest:
            return [ops["operand_1"], *rest]
    return None


@dataclass
class BicepFile:
    path: Path
    tree: dict[str, Any]
    text: str

    @property
    def params(self) -> dict[str, Any]:
        return self.tree.get("parameters", {})

    @property
    def variables(self) -> dict[str, Any]:
        return self.tree.get("variables", {})

    @property
    def resources(self) -> dict[str, Any]:
        return self.tree.get("resources", {})

    @property
    def modules(self) -> dict[str, Any]:
        return self.tree.get("modules", {})

    @property
    def outputs(self) -> dict[str, Any]:
        return self.tree.get("outputs", {})

    def resources_of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["type"].lower() == rtype.lower()}

    def var(self, name: str) -> Any:
        return self.variables[name]["value"]

    def is_literal(self, key: str) -> str | None:
        """The literal string assigned to ``key:`` in the source, or None when the value is an
        expression (an identifier, a property, a function call)."""
        match = re.search(rf"^\s*'?{re.escape(key)}'?\s*:\s*'([^']*)'\s*$", self.text, re.M)
        return match.group(1) if match else None

    def resolve_object(self, node: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The keys an object expression can produce. ``params`` maps a parameter name to the
        object passed for it (when known); an unknown parameter adds nothing."""
        params = params or {}
        if isinstance(node, str):
            if node in self.variables:
                return self.resolve_object(self.var(node), params)
            return dict(params.get(node) or {})
        if not isinstance(node, dict):
            return {}
        if "function" in node:
            fn = node["function"]
            args = list(fn["parameters"].values())
            if fn["type"] == "union":
                merged: dict[str, Any] = {}
                for arg in args:
                    merged.update(self.resolve_object(arg, params))
                return merged
            if fn["type"] == "toObject":
                return self._to_object(args, params)
            return {}
        if "operator" in node and node["operator"]["type"] == "conditional":
            ops = node["operator"]["operands"]
            merged = self.resolve_object(ops["true_value"], params)
            merged.update(self.resolve_object(ops["false_value"], params))
            return merged
        if "operator" in node:
            return {}
        return dict(node)

    def _to_object(self, args: list[Any], params: dict[str, Any]) -> dict[str, Any]:
        """``toObject(items(source), e => e.key, e => 'text ${e.value}')``."""
        source, key_fn, value_fn = args
        items = source.get("function", {}) if isinstance(source, dict) else {}
        if items.get("type") != "items":
            return {}
        mapping = self.resolve_object(items["parameters"]["arg_1"], params)
        key_expr = accessor_chain(key_fn["detail"]["expression"])
        var = key_fn["detail"]["var_1"]
        if key_expr != [var, "key"]:
            return {}
        template = value_fn["detail"]["expression"]
        value_var = value_fn["detail"]["var_1"]
        result = {}
        for key, value in mapping.items():
            if isinstance(template, str):
                result[key] = template.replace("${" + value_var + ".value}", str(value))
            else:
                result[key] = template
        return result


class Infra:
    """The repository's infra: every Bicep file parsed, plus the other deployment files."""

    def __init__(self, root: Path):
        self.root = root
        self.infra_dir = root / "infra"

    @cached_property
    def bicep_paths(self) -> list[Path]:
        return sorted(self.infra_dir.rglob("*.bicep"))

    @cached_property
    def files(self) -> dict[str, BicepFile]:
        """Relative path (``modules/storage.bicep``) -> parsed file."""
        out = {}
        for path in self.bicep_paths:
            text = path.read_text()
            out[path.relative_to(self.infra_dir).as_posix()] = BicepFile(
                path, parse(text), text
            )
        return out

    @property
    def main(self) -> BicepFile:
        return self.files["main.bicep"]

    def module_file(self, symbol: str) -> BicepFile:
        """The parsed file behind ``module <symbol> '<path>'`` of main.bicep."""
        module = self.main.modules[symbol]
        return self.files[module["detail"]["path"]]

    def module_symbol(self, path: str) -> str:
        for symbol, module in self.main.modules.items():
            if module["detail"]["path"] == path:
                return symbol
        raise KeyError(f"main.bicep deploys no module from {path}")

    def module_params(self, path: str) -> dict[str, Any]:
        body, _, _ = unwrap(self.main.modules[self.module_symbol(path)])
        return body.get("params", {})

    @cached_property
    def function_app(self) -> BicepFile:
        return self.files["modules/functionapp.bicep"]

    @cached_property
    def app_settings(self) -> dict[str, Any]:
        """Every app setting the Function App can get: name -> value (a string for literals,
        identifiers and interpolations; a dict for other expressions)."""
        fa = self.function_app
        configs = [
            unwrap(r)[0]
            for r in fa.resources_of_type("Microsoft.Web/sites/config").values()
            if unwrap(r)[0].get("name") == "appsettings"
        ]
        assert len(configs) == 1, "functionapp.bicep must declare exactly one appsettings config"
        passed = self.module_params("modules/functionapp.bicep")
        params = {
            name: self.main.resolve_object(value)
            for name, value in passed.items()
            if name in fa.params and fa.params[name]["type"] == "object"
        }
        return fa.resolve_object(configs[0]["properties"], params)

    def app_setting_is_literal(self, name: str) -> str | None:
        return self.function_app.is_literal(name)

    @cached_property
    def parameters_json(self) -> dict[str, Any]:
        return json.loads((self.infra_dir / "main.parameters.json").read_text())["parameters"]

    @cached_property
    def host_json(self) -> dict[str, Any]:
        return json.loads((self.root / "host.json").read_text())

    @cached_property
    def azure_yaml(self) -> str:
        return (self.root / "azure.yaml").read_text()
