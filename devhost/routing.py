"""HTTP trigger route templates, matched as ASP.NET Core routing does for Azure Functions.

Supported: literal segments (case-insensitive), `{name}`, optional trailing `{name?}`,
catch-all `{*rest}`, and the constraints int, long, bool, guid, alpha, double, float, decimal,
datetime. More specific routes win: literal segments before constrained parameters before
plain parameters before optional ones before catch-alls (so `jobs/stats` beats `jobs/{id}`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Generic, TypeVar

#: What a route leads to (the host's: the HTTP function it calls).
T = TypeVar("T")

CONSTRAINTS = {
    "int": r"-?\d+", "long": r"-?\d+", "bool": r"(?i:true|false)",
    "guid": r"\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
            r"[0-9a-fA-F]{12}\}?",
    "alpha": r"[A-Za-z]+", "double": r"-?\d+(?:\.\d+)?", "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?", "datetime": r"[^/]+",
}
PARAM = re.compile(r"^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?(\?)?\}$")


class Route(Generic[T]):
    """One compiled template; `match` returns route params or None."""

    def __init__(self, template: str, target: T) -> None:
        self.template = template.strip("/")
        self.target = target
        pattern: str = ""
        rank: list[int] = []
        for index, segment in enumerate(self.template.split("/") if self.template else []):
            slash = "/" if index else ""
            param = PARAM.match(segment)
            if param is None:
                pattern += slash + re.escape(segment)
                rank.append(0)
                continue
            catch_all, name, constraint, optional = param.groups()
            if catch_all:
                pattern += f"(?:{slash}(?P<{name}>.*))?"
                rank.append(4)
                continue
            if constraint and constraint.lower() not in CONSTRAINTS:
                raise ValueError(f"route {template!r}: unknown constraint {constraint!r}")
            body = CONSTRAINTS[constraint.lower()] if constraint else r"[^/]+"
            group = f"(?P<{name}>{body})"
            if optional:
                pattern += f"(?:{slash}{group})?"
                rank.append(3)
            else:
                pattern += slash + group
                rank.append(1 if constraint else 2)
        self.regex = re.compile(f"^{pattern}/?$", re.IGNORECASE)
        self.rank = tuple(rank)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(path)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


class Router(Generic[T]):
    """Routes ordered by specificity."""

    def __init__(self, routes: Sequence[tuple[str, T]]) -> None:
        self.routes = sorted((Route(t, target) for t, target in routes),
                             key=lambda r: (r.rank + (2.5,), -len(r.rank)))

    def find(self, path: str) -> list[tuple[Route[T], dict[str, str]]]:
        """Every route matching `path`, most specific first."""
        path = path.strip("/")
        found: list[tuple[Route[T], dict[str, str]]] = []
        for route in self.routes:
            params = route.match(path)
            if params is not None:
                found.append((route, params))
        return found
