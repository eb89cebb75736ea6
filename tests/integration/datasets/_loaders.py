"""torchvision, in a virtualenv of its own, to read the imagefolder layout as its users do.

torch is 5.5 GB: it stays out of ``.venv`` (which every developer and the demo install) and
goes into ``.venv-loaders`` (git-ignored) from ``requirements-loaders.txt``, made on first
use and again only when that file changes (about 75 s from the machine's package mirror).
The loader runs there in a subprocess and prints what it read as JSON.

A plain module (not conftest) so test modules import it by a name no other test folder uses.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.stack import ROOT

LOADERS_VENV = ROOT / ".venv-loaders"
REQUIREMENTS = ROOT / "requirements-loaders.txt"

#: Reads each split folder with torchvision.datasets.ImageFolder, decodes every image through
#: the dataset (its default PIL loader), and prints classes and images per class and split.
IMAGEFOLDER_SCRIPT = """
import json, sys
from collections import Counter
from torchvision.datasets import ImageFolder

root, splits = sys.argv[1], sys.argv[2:]
out = {}
for split in splits:
    dataset = ImageFolder(f"{root}/{split}")
    decoded = [dataset[i] for i in range(len(dataset))]
    out[split] = {
        "classes": dataset.classes,
        "images": dict(Counter(dataset.classes[target] for _, target in decoded)),
        "sizes": sorted({image.size for image, _ in decoded}),
        "files": sorted(path.rsplit("/", 1)[1] for path, _ in dataset.samples),
    }
print(json.dumps(out))
"""


def loaders_python() -> Path:
    """``.venv-loaders``'s python with requirements-loaders.txt installed (once per change of
    that file; a lock keeps two test runs from installing at once)."""
    LOADERS_VENV.mkdir(exist_ok=True)
    python = LOADERS_VENV / "bin" / "python"
    stamp = LOADERS_VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    with (LOADERS_VENV / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(LOADERS_VENV)], check=True)
        if not stamp.exists() or stamp.read_text() != wanted:
            installed = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "-r", str(REQUIREMENTS)],
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
            )  # fmt: skip
            if installed.returncode != 0:
                raise RuntimeError(f"installing {REQUIREMENTS.name} failed:\n{installed.stderr[-3000:]}")
            stamp.write_text(wanted)
    return python


def read_imagefolder(root: Path, splits: list[str]) -> dict[str, Any]:
    """What torchvision's ImageFolder reads in ``root/<split>`` for each split."""
    run = subprocess.run(
        [str(loaders_python()), "-c", IMAGEFOLDER_SCRIPT, str(root), *splits],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if run.returncode != 0:
        raise AssertionError(f"ImageFolder could not read {root}:\n{run.stderr[-3000:]}")
    return dict(json.loads(run.stdout))
