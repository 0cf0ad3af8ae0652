"""`rdfox-pipeline local up --airflow`: the UI with a login, `status`, `submit --trigger` to it, `down`.

One Airflow start for the module (about a minute and a half on 2 cores): the steps share it, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rdfox_local.stack.airflow_services import DAG_ID, PASSWORDS_FILE, SERVICES, AirflowServices
from rdfox_local.stack.stack import LocalStack

pytestmark = pytest.mark.slow


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("rdfox-pipeline")), *args],
        capture_output=True, text=True, timeout=timeout, env=env or os.environ.copy(), check=False,
    )  # fmt: skip


def _processes_of(state_dir: Path) -> list[str]:
    """Every process whose command line, environment or open files name the state directory: the stack's
    servers write their logs there, Airflow's processes have it as AIRFLOW_HOME, pods run in it."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
            text += "\n".join(os.readlink(fd) for fd in (proc / "fd").iterdir()).encode()
        except OSError:
            continue
        if str(state_dir).encode() in text:
            found.append(f"{proc.name}: {text[:200]!r}")
    return found


def _get(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("airflow-stack") / "state"
    started = _cli("local", "up", "--airflow", "--state-dir", str(state_dir))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"state_dir": state_dir, "output": started.stdout}
    finally:
        _cli("local", "down", "--state-dir", str(state_dir))


def test_up_prints_the_ui_url_and_how_to_log_in(up: dict[str, Any]) -> None:
    state_dir: Path = up["state_dir"]
    services = AirflowServices.attach(LocalStack(state_dir))
    assert services is not None and services.is_up() and services.auth
    assert f"Airflow UI: {services.api_url}/dags/{DAG_ID}" in up["output"]
    password_file = state_dir / "airflow" / PASSWORDS_FILE
    assert f"log in as admin; the password is in {password_file}" in up["output"]
    assert password_file.stat().st_mode & 0o777 == 0o600
    password = json.loads(password_file.read_text())["admin"]
    # The password is shown nowhere: not on the terminal, not in a log.
    assert password not in up["output"]
    for log in (state_dir / "logs").iterdir():
        assert password not in log.read_text(errors="replace"), log

    health = _get(f"{services.api_url}/api/v2/monitor/health")
    assert {name: health[name]["status"] for name in health} == dict.fromkeys(health, "healthy")
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get(f"{services.api_url}/api/v2/dags/{DAG_ID}")
    assert refused.value.code == 401  # a login is needed
    assert _get(f"{services.api_url}/api/v2/dags/{DAG_ID}", services.token())["is_paused"] is False
    # The tasks report to this API server: the execution API URL has the UI's port.
    execution_api = services.environment()["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert execution_api == f"{services.api_url}/execution/"


def test_up_again_reuses_it_and_refuses_another_port(up: dict[str, Any]) -> None:
    state_dir = str(up["state_dir"])
    services = AirflowServices.attach(LocalStack(state_dir))
    assert services is not None
    pids = {name: proc.pid for name, proc in services.processes.items()}
    again = _cli("local", "up", "--airflow", "--state-dir", state_dir, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"Airflow already runs at {services.api_url}" in again.stdout
    reattached = AirflowServices.attach(LocalStack(state_dir))
    assert reattached is not None
    assert {name: proc.pid for name, proc in reattached.processes.items()} == pids

    other_port = str(services.port + 1)
    other = _cli("local", "up", "--airflow", "--airflow-port", other_port, "--state-dir", state_dir)
    assert other.returncode == 2
    assert "`local down` first" in other.stderr or "not free" in other.stderr, other.stderr


def test_status_shows_the_processes_the_url_and_a_paused_dag(up: dict[str, Any]) -> None:
    state_dir = str(up["state_dir"])
    status = _cli("local", "status", "--state-dir", state_dir, timeout=120)
    assert status.returncode == 0, status.stderr
    airflow = json.loads(status.stdout)["airflow"]
    assert airflow["up"] is True and airflow["dag_paused"] is False
    assert set(airflow["processes"]) == set(SERVICES)
    assert all(p["running"] for p in airflow["processes"].values())
    services = AirflowServices.attach(LocalStack(state_dir))
    assert services is not None and airflow["url"] == services.api_url

    # Paused by a user: status says so (the runs below wait instead of running: this test starts no job).
    services.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": True})
    paused = _cli("local", "status", "--state-dir", state_dir, timeout=120)
    assert json.loads(paused.stdout)["airflow"]["dag_paused"] is True
    assert f"the DAG {DAG_ID} is paused" in paused.stderr


def test_submit_trigger_goes_to_the_stack_airflow_with_a_token(up: dict[str, Any]) -> None:
    stack = LocalStack(up["state_dir"])
    services = AirflowServices.attach(stack)
    assert services is not None
    env = stack.process_env()  # what `. airflow.env` gives: RDFOX_LOCAL_STATE_DIR, no URL, no token
    env.pop("AIRFLOW_URL", None)
    env.pop("AIRFLOW_API_TOKEN", None)
    args = ("submit", "--dataset", "UIDEFAULTS", "--cores", "1", "--memory", "1Gi", "--trigger")
    submitted = _cli(*args, env=env)
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.split(" run ", 1)[1].split(" ", 1)[0]
    run = services.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
    assert run["conf"]["jobspec"]["dataset"] == "UIDEFAULTS"


def test_down_leaves_no_process(up: dict[str, Any]) -> None:
    state_dir: Path = up["state_dir"]
    assert _processes_of(state_dir), "the stack's processes should be found before down"
    down = _cli("local", "down", "--state-dir", str(state_dir), timeout=300)
    assert down.returncode == 0, down.stderr
    assert {f"stopped airflow-{name}" for name in SERVICES} <= {
        line.removeprefix("local stack: ") for line in down.stdout.splitlines()
    }
    assert _processes_of(state_dir) == []
    assert LocalStack(state_dir).state().airflow == {}
