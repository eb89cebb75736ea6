"""Load a Functions app folder: settings, host.json and the functions of its `df.DFApp`.

The devhost treats the app as the Functions host does: `DIR/function_app.py` is imported, its
one module-level function app (a `func.FunctionApp` or `df.DFApp`, whatever the variable is
called, as the Python worker finds it) enumerated once, and every function classified by its
trigger type.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger("devhost.app")

HTTP, TIMER, ORCHESTRATION, ACTIVITY, ENTITY = (
    "httpTrigger", "timerTrigger", "orchestrationTrigger", "activityTrigger", "entityTrigger")

#: An orchestrator's raw generator function and its declared input type (or None).
OrchestratorCode = tuple[Callable[..., Any], Any]


@dataclass
class FunctionInfo:
    """One function of the app, as the host sees it."""

    name: str
    trigger: str
    trigger_binding: dict[str, Any]
    user_function: Callable[..., Any]
    client_bindings: list[str] = field(default_factory=list)
    accepts_context: bool = False

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)


@dataclass
class HostConfig:
    """The parts of host.json the devhost honours."""

    route_prefix: str = "api"
    hub_name: str = "DevHostHub"
    max_activities: int = 10 * (os.cpu_count() or 1)
    max_orchestrations: int = 10 * (os.cpu_count() or 1)
    function_timeout: float | None = None

    @classmethod
    def load(cls, app_dir: Path) -> HostConfig:
        path = app_dir / "host.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        ext = data.get("extensions", {})
        durable = ext.get("durableTask", {})
        cfg = cls()
        cfg.route_prefix = str(ext.get("http", {}).get("routePrefix", "api")).strip("/")
        cfg.hub_name = resolve_setting(str(durable.get("hubName", cfg.hub_name)))  # "%SETTING%" too
        cfg.max_activities = int(durable.get("maxConcurrentActivityFunctions", cfg.max_activities))
        cfg.max_orchestrations = int(
            durable.get("maxConcurrentOrchestratorFunctions", cfg.max_orchestrations))
        if data.get("functionTimeout"):
            cfg.function_timeout = parse_timespan(data["functionTimeout"])
        return cfg


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan text such as `00:05:00` or `1.02:00:00`."""
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", text.strip())
    if not match:
        raise ValueError(f"host.json: cannot read the time span {text!r} (expected hh:mm:ss)")
    days, hours, minutes, seconds = match.groups()
    return ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + float(seconds)


def local_settings(app_dir: Path) -> dict[str, Any]:
    """DIR/local.settings.json as a dict (empty when there is none)."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    settings = json.loads(path.read_text())
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return settings


def load_local_settings(app_dir: Path) -> None:
    """Copy `Values` of local.settings.json into the environment, as `func start` does."""
    for key, value in local_settings(app_dir).get("Values", {}).items():
        os.environ.setdefault(key, str(value))


def find_app(module: ModuleType, where: str = "function_app.py") -> Any:
    """The one module-level function app of `module`, whatever its name.

    As the Python worker indexes a v2 app: every module attribute that is a
    `func.FunctionRegister` instance (`func.FunctionApp`, `df.DFApp`) counts; none or more than
    one is an error naming what was found. Blueprints are not apps (they are registered on one).
    """
    from azure.functions import FunctionRegister

    found = [name for name, value in vars(module).items() if isinstance(value, FunctionRegister)]
    if not found:
        raise ValueError(
            f"{where} defines no function app: assign one func.FunctionApp() or df.DFApp() to a "
            "module-level variable (any name, e.g. `app = df.DFApp()`)")
    if len(found) > 1:
        raise ValueError(
            f"{where} defines {len(found)} function apps ({', '.join(found)}); the Python worker "
            "accepts exactly one: keep one and register the others' functions on it as "
            "blueprints (`app.register_functions(blueprint)`)")
    return getattr(module, found[0])


def import_app(app_dir: Path) -> Any:
    """Import DIR/function_app.py and return its function app (see :func:`find_app`)."""
    app_dir = app_dir.resolve()
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location("function_app", app_dir / "function_app.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{app_dir / 'function_app.py'} not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)
    return find_app(module, str(app_dir / "function_app.py"))


def _plain(value: Any) -> Any:
    """Binding reprs hold enums; keep their string values."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return getattr(value, "value", value)


class AppModel:
    """The functions of one app, indexed by trigger type."""

    def __init__(self, app_dir: Path) -> None:
        self.app_dir = app_dir.resolve()
        self.functions: dict[str, FunctionInfo] = {}
        for fn in import_app(self.app_dir).get_functions():
            info = self._describe(fn)
            self.functions[info.name] = info
        self.orchestrators = self._by_trigger(ORCHESTRATION)
        self.entities = {n.lower(): f for n, f in self._by_trigger(ENTITY).items()}
        self.http = self._by_trigger(HTTP)
        self.timers = self._by_trigger(TIMER)
        # call_activity sends the Python function name: index activities by it too.
        self.activities: dict[str, FunctionInfo] = {}
        for name, info in self._by_trigger(ACTIVITY).items():
            self.activities[name] = info
            self.activities.setdefault(info.user_function.__name__, info)

    def _by_trigger(self, trigger: str) -> dict[str, FunctionInfo]:
        return {n: f for n, f in self.functions.items() if f.trigger == trigger}

    @staticmethod
    def _describe(fn: Any) -> FunctionInfo:
        trigger_type = fn.get_trigger().type
        bindings = [{k: _plain(v) for k, v in b.get_dict_repr().items()}
                    for b in fn.get_bindings()]
        trigger = next(b for b in bindings if b["type"] == trigger_type)
        user = fn.get_user_function()
        params: Mapping[str, inspect.Parameter]
        try:
            params = inspect.signature(user).parameters
        except (TypeError, ValueError):
            params = {}
        return FunctionInfo(
            name=fn.get_function_name(), trigger=trigger_type, trigger_binding=trigger,
            user_function=user,
            client_bindings=[b["name"] for b in bindings if b["type"] == "durableClient"],
            accepts_context="context" in params and trigger_type in (HTTP, TIMER))

    def orchestrator_code(self, name: str) -> OrchestratorCode:
        """The raw generator function and declared input type of an orchestrator."""
        handle = self.orchestrators[name].user_function
        code: Callable[..., Any] = getattr(handle, "orchestrator_function")
        return code, getattr(handle, "_df_input_type", None)


def resolve_setting(text: str) -> str:
    """Replace `%NAME%` with the app setting NAME, as binding expressions do."""
    def lookup(match: "re.Match[str]") -> str:
        key = match.group(1)
        if key not in os.environ:
            raise KeyError(f"app setting {key} is not set (referenced as %{key}%)")
        return os.environ[key]
    return re.sub(r"%([^%]+)%", lookup, text)
