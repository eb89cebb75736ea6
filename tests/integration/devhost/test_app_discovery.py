"""The devhost finds the function app as the Python worker does: the one module-level
FunctionApp/DFApp instance of function_app.py, whatever its name; none or several stop the
start with a message naming what it found."""
import json
import select
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Optional, Tuple

import pytest

from devhost_harness import REPO

pytestmark = pytest.mark.integration

#: Microsoft's Durable samples name the app `myApp`; a blueprint beside it is not an app.
NAMED_MY_APP = '''
import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
extra = df.Blueprint()


@extra.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}"


@myApp.orchestration_trigger(context_name="context")
def hello_orchestrator(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("hello", "Seattle")
    return result


@myApp.route(route="orchestrators/{name}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"])
    return client.create_check_status_response(req, instance_id)


myApp.register_functions(extra)
'''

NO_APP = '''
import azure.functions as func
from azure.functions import FunctionApp  # a class, not an app

bp = func.Blueprint()


@bp.route(route="ping")
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
'''

TWO_APPS = '''
import azure.durable_functions as df
import azure.functions as func

app = df.DFApp()
admin_app = func.FunctionApp()
'''


def write_app(folder: Path, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function_app.py").write_text(textwrap.dedent(code))
    (folder / "host.json").write_text(json.dumps({"version": "2.0"}))
    return folder


@pytest.fixture
def launch(tmp_path: Path) -> Iterator:
    """Starts `python -m devhost` on an app folder; returns (base URL or None, stderr)."""
    procs = []

    def start(app: Path) -> Tuple[Optional[str], str]:
        err = tmp_path / f"{app.name}.err"
        proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--app", str(app), "--port", "0",
             "--state", str(tmp_path / f"{app.name}.sqlite")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=err.open("w"), text=True,
            start_new_session=True)
        procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline()
                if line.startswith("devhost listening on "):
                    return line.split()[-1], err.read_text()
            if proc.poll() is not None:
                return None, err.read_text()
        raise AssertionError(f"devhost neither started nor exited; {err.read_text()}")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def test_an_app_named_myApp_is_served_with_its_blueprint(launch, tmp_path: Path) -> None:
    base, log = launch(write_app(tmp_path / "sample", NAMED_MY_APP))
    assert base, log
    request = urllib.request.Request(f"{base}/api/orchestrators/hello_orchestrator", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        status_url = json.loads(response.read())["statusQueryGetUri"]
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(status_url, timeout=30) as response:
            status = json.loads(response.read())
        if status["runtimeStatus"] == "Completed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "Hello Seattle")


def test_a_module_without_an_app_is_refused_with_a_clear_message(launch, tmp_path: Path) -> None:
    base, log = launch(write_app(tmp_path / "noapp", NO_APP))
    assert base is None
    assert "defines no function app" in log and "df.DFApp()" in log


def test_a_module_with_two_apps_is_refused_naming_both(launch, tmp_path: Path) -> None:
    base, log = launch(write_app(tmp_path / "twoapps", TWO_APPS))
    assert base is None
    assert "defines 2 function apps (app, admin_app)" in log
