"""The README's walk-through runs as written, offline: `scripts/stack up` with its demo
sources, a job created, started and followed with curl, its dataset built and downloaded,
then the CLI. The only changes: the stack's --dir and free ports (the fixed ones belong to
whoever runs `scripts/stack up` on this machine) and where the zip is written."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from scripts.stack import ROOT

pytestmark = pytest.mark.e2e


def walkthrough() -> tuple[str, str]:
    """The walk-through's commands and the output the README shows for them."""
    section = (ROOT / "README.md").read_text().split("## Running it locally", 1)[1]
    script = section.split("```bash\n", 1)[1].split("\n```", 1)[0]
    printed = section.split("```text\n", 1)[1].split("\n```", 1)[0]
    return script, printed


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_walkthrough_runs_offline_as_written(tmp_path: Path) -> None:
    script, printed = walkthrough()
    stack_dir, archive = tmp_path / "stack", tmp_path / "pets.zip"
    runnable = (
        script.replace("scripts/stack up", f"scripts/stack up --dir {stack_dir} --free-ports")
        .replace("scripts/stack down", f"scripts/stack down --dir {stack_dir}")
        .replace("pets.zip", str(archive))
    )
    assert runnable.count(str(stack_dir)) == 2 and "7071" not in runnable
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXCRAWLER_", "SERVICE_"))}
    env.update(PIXCRAWLER_CONFIG=str(tmp_path / "config.json"), PIXCRAWLER_CACHE_DIR=str(tmp_path / "cache"))
    try:
        run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", runnable], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=900)
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "stack"), "down", "--dir", str(stack_dir)],
                       cwd=ROOT, capture_output=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout

    lines = json_lines(out)
    final = [line for line in lines if line.get("phase") == "done"][-1]
    assert final["status"] == "completed" and final["progress"] == 100
    assert 0 < int(final["valid_images"]) <= int(final["stored_images"]) <= 80  # 2 x 2 x 20 at most
    dataset = next(line for line in lines if line.get("status") == "ready")
    assert set(dataset["counts"]["per_label"]) == {"cat", "dog"}  # type: ignore[index]

    with zipfile.ZipFile(archive) as zipped:
        manifest = [json.loads(row) for row in zipped.read("manifest.jsonl").splitlines()]
    assert len(manifest) == dataset["counts"]["total"]  # type: ignore[index]
    assert all(row["url"].startswith("http://127.0.0.1:") for row in manifest), "offline: local sources only"

    # the CLI's progress (on stderr) off a terminal: plain lines naming each chunk
    assert "chunk bird [wikimedia]: completed" in run.stderr and "\x1b" not in run.stderr + out
    assert "Validation of " in out and "at level slow started." in out
    assert f"Saved to {archive}" in out and "stack stopped" in out

    # The output the README shows is this walk-through's: its JSON lines have these keys.
    shown = {tuple(sorted(line)) for line in json_lines(printed)}
    assert shown and shown <= {tuple(sorted(line)) for line in lines}
