"""Write local.settings.json (git-ignored) for the local stack, unless one exists.

The Functions convention: `func start` -- and the devhost -- read the app settings from
local.settings.json. These are the settings of `scripts/stack up` (Azurite on 10000-10002, the
Cosmos emulator on 8081, a local HS256 secret, downloads from 127.0.0.1 allowed), so that
`python -m devhost --app .` starts as it is. Variables set in the environment win.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scripts.localservices import environment
from scripts.stack import ROOT, app_env

PATH = ROOT / "local.settings.json"


def main() -> int:
    if PATH.exists():
        return 0
    values = {"FUNCTIONS_WORKER_RUNTIME": "python", **app_env(environment(10000, 8081))}
    PATH.write_text(json.dumps({"IsEncrypted": False, "Values": values}, indent=2) + "\n")
    print(f"wrote {PATH.name} (the local stack's settings)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
