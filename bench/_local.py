"""What the benchmarks share: CPU and memory of processes from /proc, calls to the local
stack's API with a local bearer token, and the requests the local services answer."""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch  # patch.dict: set, then restore, os.environ

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (from /proc/PID/stat)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory (``VmRSS``) or its high-water mark (``VmHWM``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def call(method: str, url: str, token: str, body: Any = None, timeout: float = 120) -> Any:
    """One JSON call to the API with ``Authorization: Bearer token``; the answer's JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


# --------------------------------------------------------------------------------------------
# Counting the requests the local stand-ins of Blob Storage and Cosmos DB answer
# --------------------------------------------------------------------------------------------

#: Loaded into the emulators' node processes with ``node --require``: counts every request they
#: answer into a JSON file per process, four times a second. Cosmos (cosmosdb-server):
#: ``cosmos:{container}:{kind}`` (kind: query page, batch, create, patch, replace, read,
#: delete; ``documents read`` counts the documents query pages return). Azurite:
#: ``azurite:{port}:{operation}`` (Put Block, Put Block List, Set Metadata, Put Blob, Get Blob,
#: ...; the port says blob, queue or table).
COUNTING_HOOK = r"""
const fs = require("fs");
const out = process.env.PIXCRAWLER_BENCH_COUNTS;
const cosmos = process.argv.some((arg) => arg.includes("cosmosdb-server"));
const azurite = process.argv.some((arg) => arg.includes("azurite"));
if (out && (cosmos || azurite)) {
  const counts = {};
  const add = (kind, n) => { counts[kind] = (counts[kind] || 0) + n; };
  const cosmosKind = (req, res) => {
    const coll = ((req.url || "").match(/\/colls\/([^/?]+)/) || [null, "-"])[1];
    const h = req.headers;
    if (String(h["x-ms-documentdb-isquery"]).toLowerCase() === "true"
        || String(h["content-type"] || "").startsWith("application/query+json")) {
      add(`cosmos:${coll}:documents read`, Number(res.getHeader("x-ms-item-count") || 0));
      return `cosmos:${coll}:query page`;
    }
    if (h["x-ms-cosmos-is-batch-request"]) return `cosmos:${coll}:batch`;
    const verb = { PATCH: "patch", POST: "create", PUT: "replace", GET: "read", DELETE: "delete" };
    return `cosmos:${coll}:${verb[req.method] || req.method}`;
  };
  const azuriteKind = (req) => {
    const query = new URL(req.url || "/", "http://x").searchParams;
    const comp = query.get("comp"), restype = query.get("restype");
    const names = { block: "Put Block", blocklist: "Put Block List", metadata: "Set Metadata",
                    list: "List", properties: "Properties" };
    let op = comp ? (names[comp] || comp) : restype ? `${restype} ${req.method}` :
      { PUT: "Put Blob", GET: "Get Blob", HEAD: "Get Blob Properties", DELETE: "Delete Blob" }[req.method] || req.method;
    if (comp === "blocklist" && req.method === "GET") op = "Get Block List";
    if (comp === "metadata" && req.method !== "PUT") op = "Get Metadata";
    if (req.headers["x-ms-range"] || req.headers["range"]) op += " (ranged)";
    return `azurite:${req.socket.localPort}:${op}`;
  };
  for (const server of [require("http").Server, require("https").Server]) {
    const emit = server.prototype.emit;
    server.prototype.emit = function (event, req, res) {
      if (event === "request") {
        res.on("finish", () => add(cosmos ? cosmosKind(req, res) : azuriteKind(req), 1));
      }
      return emit.apply(this, arguments);
    };
  }
  const mine = `${out}.${process.pid}`;  // one file per emulator process
  setInterval(() => fs.writeFileSync(mine, JSON.stringify(counts)), 250).unref();
}
"""


class RequestCounter:
    """The emulators' request counts, as the hook last wrote them.

    Start the services inside :meth:`loading` (they inherit the bench's environment)::

        counter = RequestCounter(directory)
        with counter.loading():
            stack.services.start()
        before = counter.snapshot()
        ...
        requests = counter.snapshot() - before
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.hook = directory / "count-requests.js"
        self.hook.write_text(COUNTING_HOOK)
        self.path = directory / "requests.json"

    def env(self) -> dict[str, str]:
        """What an emulator's process must inherit to load the hook."""
        return {"NODE_OPTIONS": f"--require {self.hook}", "PIXCRAWLER_BENCH_COUNTS": str(self.path)}

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        """The hook in this process's environment while the block runs (to start services)."""
        with patch.dict(os.environ, self.env()):
            yield

    def snapshot(self, settle: float = 10.0) -> Counter[str]:
        """The counts once two reads 0.6 s apart agree (the hook writes every 0.25 s; a busy
        emulator answers the last requests late), or after ``settle`` seconds."""
        deadline, last = time.monotonic() + settle, None
        while True:
            time.sleep(0.6)
            counts = Counter()
            for path in self.path.parent.glob(self.path.name + ".*"):
                try:
                    counts.update(json.loads(path.read_text()))
                except (OSError, ValueError):
                    pass  # being written: the next read has it
            if counts == last or time.monotonic() > deadline:
                return counts
            last = counts


def name_requests(counts: Counter[str], env: dict[str, str]) -> Counter[str]:
    """``azurite:{port}:...`` keys renamed ``blob:``/``queue:``/``table:`` after the ports of the
    connection string in ``env``; other keys unchanged."""
    ports: dict[str, str] = {}
    for part in env.get("PIXCRAWLER_BLOB_CONNECTION_STRING", "").split(";"):
        if "Endpoint=" in part:
            kind, url = part.split("Endpoint=", 1)
            ports[url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]] = kind.lower()
    named: Counter[str] = Counter()
    for key, value in counts.items():
        if key.startswith("azurite:"):
            _, port, op = key.split(":", 2)
            key = f"{ports.get(port, 'azurite ' + port)}:{op}"
        named[key] += value
    return named
