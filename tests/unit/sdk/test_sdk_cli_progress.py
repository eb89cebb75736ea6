"""``pixcrawler crawl``'s filters and its progress: bars on a terminal, plain lines (no ANSI
escapes) in a pipe or a file, chunks named by their query."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from sdk_contract_server import ContractState

from test_sdk_cli import Cli

ESC = "\x1b"


def test_crawl_sends_the_size_and_format_filters(cli: Cli, api: ContractState) -> None:
    result = cli("--json", "crawl", "cat", "--min-width", "300", "--min-height", "200",
                 "--formats", "jpeg,png", "--variation", "{kw}", "--variation", "{kw} photo")
    assert result.returncode == 0, result.stderr
    job = api.jobs[json.loads(result.stdout)["job"]["id"]]
    assert (job.min_width, job.min_height, [f.value for f in job.formats]) == (300, 200, ["jpeg", "png"])
    assert job.variations == ["{kw}", "{kw} photo"]
    bad = cli("crawl", "cat", "--min-width", "wide")
    assert bad.returncode == 2 and "whole number of pixels" in bad.stderr
    unknown = cli("crawl", "cat", "--formats", "jpeg,svg")  # refused by the service, named
    assert unknown.returncode == 1 and "formats" in unknown.stderr


def test_piped_progress_is_plain_lines_naming_each_chunk_by_its_query(cli: Cli) -> None:
    result = cli("crawl", "cat", "--variation", "{kw}", "--variation", "{kw} photo",
                 "--source", "wikimedia", "--source", "openverse", "--wait", "--poll-interval", "0.01")
    assert result.returncode == 0, result.stderr
    assert ESC not in result.stderr and "\r" not in result.stderr and ESC not in result.stdout
    lines = result.stderr.splitlines()
    assert any(line.startswith("job job-") and "chunks 4/4" in line and "completed" in line for line in lines)
    finished = {line.split(": ")[0].strip() for line in lines if line.strip().startswith("chunk ") and "completed" in line}
    assert finished == {"chunk cat [wikimedia]", "chunk cat photo [wikimedia]",
                        "chunk cat [openverse]", "chunk cat photo [openverse]"}
    overall = [line for line in lines if line.startswith("job ")]
    assert len(overall) == len(set(overall)), "a line only when something changed"


def test_on_a_terminal_progress_is_drawn_as_bars(sdk_env: dict[str, str], api: ContractState, tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIXCRAWLER_")}, **sdk_env, "TERM": "xterm"}
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a real size
    process = subprocess.Popen(
        [sys.executable, "-m", "pixcrawler", "crawl", "cat", "dog", "--wait", "--poll-interval", "0.01"],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, close_fds=True,
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=30) == 0
    text = screen.decode(errors="replace")
    assert "\r" in text and "2/2" in text  # redrawn in place, not one line per update
    assert "cat [wikimedia]" in text and "dog [wikimedia]" in text
