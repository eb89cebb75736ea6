"""The ``pixcrawler`` command: exit codes and --json output.

``cli`` runs it as a user's shell does (``python -m pixcrawler`` in a subprocess); ``run``
calls the same ``main()`` in this process, which is quicker for the many cases that need no
process boundary (signals, real argv and stdin parsing do).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from sdk_contract_server import API_KEY, TOKEN, ContractServer, ContractState, Fault

import pytest

from pixcrawler.cli import main

Cli = Callable[..., "subprocess.CompletedProcess[str]"]
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(sdk_env: dict[str, str], api: ContractState, capsys: pytest.CaptureFixture[str]) -> Run:
    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def test_datasets_list_as_json(cli: Cli, contract_server: ContractServer) -> None:
    seeded = contract_server.seed_dataset({"cat": 2})
    result = cli("--json", "datasets", "list")
    assert result.returncode == 0, result.stderr
    [listed] = json.loads(result.stdout)
    assert listed["id"] == seeded.id and listed["counts"]["total"] == 2
    assert result.stderr == ""


def test_datasets_info_for_people(run: Run, contract_server: ContractServer) -> None:
    seeded = contract_server.seed_dataset({"cat": 2, "dog": 1}, name="pets")
    code, out, _ = run("datasets", "info", seeded.id)
    assert code == 0
    assert f"pets ({seeded.id})" in out
    assert "per label  cat 2, dog 1" in out


def test_not_found_exits_4(cli: Cli, run: Run) -> None:
    result = cli("datasets", "info", "ds-missing")
    assert result.returncode == 4
    assert "ds-missing not found" in result.stderr
    code, out, err = run("datasets", "info", "ds-missing", "--json")
    assert code == 4 and out == ""
    error = json.loads(err)["error"]
    assert error["type"] == "NotFoundError" and error["status_code"] == 404
    assert error["request_id"].startswith("req-")


def test_a_bad_key_exits_3(cli: Cli) -> None:
    result = cli("datasets", "list", "--api-key", "pxc_wrong")
    assert result.returncode == 3
    assert "pixcrawler login" in result.stderr


def test_usage_errors_exit_2(cli: Cli, run: Run, api: ContractState) -> None:
    assert cli("jobs", "frobnicate").returncode == 2
    code, _, err = run("crawl", "cat", "--out", "data")
    assert code == 2 and "--out needs --dataset" in err
    code, _, err = run("crawl", "cat", "--dataset", "pets", "--layout", "webdataset", "--out", "pets.zip")
    assert code == 2 and "give --out a folder" in err
    assert api.requests_to("/api/v1/jobs", "POST") == []  # refused before anything was crawled
    assert run("datasets", "create", "job-1", "--name", "x", "--split", "train")[0] == 2


def test_api_errors_exit_1(run: Run, api: ContractState) -> None:
    api.faults.append(Fault("POST", "/api/v1/jobs/job-1/cancel", 409))
    code, _, err = run("jobs", "cancel", "job-1")
    assert code == 1
    assert "injected HTTP 409" in err


def test_login_saves_a_verified_key(cli: Cli, run: Run, sdk_env: dict[str, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = Path(sdk_env["PIXCRAWLER_CONFIG"])
    monkeypatch.delenv("PIXCRAWLER_API_KEY")
    assert run("login", "--api-key", "pxc_wrong")[0] == 3
    assert not config.exists()

    saved = cli("login", env={"PIXCRAWLER_API_KEY": None}, stdin=API_KEY + "\n")
    assert saved.returncode == 0, saved.stderr
    assert json.loads(config.read_text())["api_key"] == API_KEY
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert run("datasets", "list")[0] == 0


def test_login_with_a_token_creates_a_key(run: Run, api: ContractState, sdk_env: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXCRAWLER_API_KEY")
    code, out, err = run("--json", "login", "--token", TOKEN, "--key-name", "laptop")
    assert code == 0, err
    key = json.loads(Path(sdk_env["PIXCRAWLER_CONFIG"]).read_text())["api_key"]
    assert key in api.keys and key != API_KEY
    assert json.loads(out)["config"] == sdk_env["PIXCRAWLER_CONFIG"]


def files_under(folder: Path) -> dict[str, bytes]:
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in folder.rglob("*") if f.is_file()}


@pytest.mark.parametrize("layout", ["zip", "imagefolder"])
def test_crawl_out_dir_writes_the_dataset_as_a_folder(cli: Cli, api: ContractState, tmp_path: Path,
                                                      layout: str) -> None:
    out = tmp_path / "pets"  # no extension, not there yet: a folder
    result = cli("--json", "crawl", "cat", "dog", "--source", "wikimedia", "--max-images", "4",
                 "--level", "fast", "--dataset", "pets", "--layout", layout, "--out", str(out),
                 "--poll-interval", "0.01")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["job"]["keywords"] == ["cat", "dog"]
    assert body["job"]["validation_level"] == "fast"
    assert body["progress"]["status"] == "completed"
    assert body["dataset"]["status"] == "ready" and body["dataset"]["counts"]["total"] == 4
    assert body["dataset"]["layout"] == layout
    assert Path(body["path"]) == out and out.is_dir()
    archive = zipfile.ZipFile(io.BytesIO(api.archives[f"datasets/{body['dataset']['id']}.zip"]))
    assert files_under(out) == {name: archive.read(name) for name in archive.namelist()}
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    for row in rows:
        folder = f"{row['split']}/{row['label']}" if layout == "imagefolder" else row["label"]
        assert row["file"] == f"{folder}/{row['sha256']}.png" and (out / row["file"]).is_file()


def test_crawl_out_name_zip_writes_the_zip(cli: Cli, api: ContractState, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "pets.zip"
    result = cli("--json", "crawl", "cat", "--max-images", "4", "--dataset", "pets", "--out", str(out),
                 "--poll-interval", "0.01")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert Path(body["path"]) == out
    assert hashlib.sha256(out.read_bytes()).hexdigest() == body["dataset"]["sha256"]
    assert "manifest.jsonl" in zipfile.ZipFile(out).namelist()
    assert sorted(p.name for p in out.parent.iterdir()) == ["pets.zip"]


def test_crawl_shows_live_progress_overall_and_per_chunk(run: Run) -> None:
    code, out, err = run("crawl", "cat", "dog", "--wait", "--poll-interval", "0.01")
    assert code == 0, err
    assert "job job-" in err and "2/2" in err
    assert "cat [wikimedia]" in err and "dog [wikimedia]" in err
    assert "completed" in out


def test_a_job_that_fails_exits_1(run: Run, api: ContractState) -> None:
    api.fail_jobs = True
    code, out, _ = run("crawl", "cat", "--wait", "--poll-interval", "0.01", "-q")
    assert code == 1
    assert "ended failed" in out


def test_jobs_list_show_and_logs(run: Run) -> None:
    created = json.loads(run("--json", "crawl", "cat", "--wait", "--poll-interval", "0.01")[1])
    job_id = created["job"]["id"]
    listed = json.loads(run("jobs", "list", "--json", "--status", "completed")[1])
    assert [j["id"] for j in listed] == [job_id]
    code, shown, _ = run("jobs", "show", job_id)
    assert code == 0 and "chunks     1 done, 0 failed" in shown
    logs = json.loads(run("jobs", "logs", job_id, "--json")[1])
    assert [c["label"] for c in logs["chunks"]] == ["cat"]


def test_datasets_download_to_a_folder_a_zip_or_by_default_a_folder_named_by_id(
    run: Run, contract_server: ContractServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = contract_server.seed_dataset({"cat": 2})
    archive = zipfile.ZipFile(io.BytesIO(contract_server.state.archives[seeded.blob_name]))
    members = {name: archive.read(name) for name in archive.namelist()}

    code, _, err = run("datasets", "download", seeded.id, "--out", str(tmp_path / "pets.zip"), "-q")
    assert code == 0, err
    assert hashlib.sha256((tmp_path / "pets.zip").read_bytes()).hexdigest() == seeded.sha256
    code, _, err = run("datasets", "download", seeded.id, "--out", str(tmp_path / "data"), "-q")
    assert code == 0, err
    assert files_under(tmp_path / "data") == members
    monkeypatch.chdir(tmp_path)
    code, out, err = run("--json", "datasets", "download", seeded.id, "-q")
    assert code == 0, err
    assert Path(json.loads(out)["path"]) == Path(seeded.id)
    assert files_under(tmp_path / seeded.id) == members


def test_an_out_path_that_is_a_file_is_refused(run: Run, contract_server: ContractServer,
                                                tmp_path: Path) -> None:
    seeded = contract_server.seed_dataset({"cat": 1})
    (tmp_path / "taken").write_text("mine")
    code, _, err = run("datasets", "download", seeded.id, "--out", str(tmp_path / "taken"), "-q")
    assert code == 2 and "is not a folder" in err
    assert (tmp_path / "taken").read_text() == "mine"


def test_ctrl_c_while_waiting_exits_130(sdk_env: dict[str, str], api: ContractState,
                                        contract_server: ContractServer) -> None:
    api.hold_jobs = True
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIXCRAWLER_")}, **sdk_env}
    # Ctrl-C comes from a terminal, whose shell gives its foreground job SIGINT's default
    # action; a suite run in the background (`.ci/run &`) would pass on "ignored", and Python
    # then installs no KeyboardInterrupt handler, so the CLI starts as a terminal would start it.
    process = subprocess.Popen(
        [sys.executable, "-m", "pixcrawler", "crawl", "cat", "--wait", "--poll-interval", "0.05"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 20
        while not any(s.path.endswith("/progress") for s in api.seen):
            assert time.monotonic() < deadline, "the CLI never polled the job"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "Interrupted" in err and "pixcrawler jobs cancel" in err
