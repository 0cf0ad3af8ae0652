"""Shared fixtures: real local servers over HTTP (moto's server), an isolated Airflow home per process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
REFERENCE_DIR = SHARED_DIR / "reference"
TEST_REGION = "eu-west-2"

# Airflow reads its configuration at import: give every test process (xdist worker) its own home before
# anything imports airflow, so that tests never touch ~/airflow and never share a sqlite file.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="rdfox-pipeline-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(_AIRFLOW_HOME / "logs"))
# The DAG file's import timeout is wall-clock (30 s by default): on a 2-core machine shared by several test
# runs, an import that takes 4 s of CPU can take longer than that. The local stack allows 120 s likewise.
os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "240")
# As the local stack runs: AWS hooks' sessions share botocore's parsed data (aws/session_factory.py).
os.environ.setdefault(
    "AIRFLOW__AWS__SESSION_FACTORY", "rdfox_pipeline.aws.session_factory.SharedLoaderSessionFactory"
)
# Never let a test reach real AWS, whatever the developer's environment holds.
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_var, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # moto's dummy credentials
os.environ["AWS_DEFAULT_REGION"] = TEST_REGION
# Tests run on local stand-ins (moto, the emulators): the local stack's explicit signal, so pods may start
# without an IMAGE_REGISTRY_ALLOWLIST; tests of that refusal set it to false.
os.environ["LOCAL_STACK"] = "true"


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # a loopback URL built by the tests
                return
        except urllib.error.HTTPError:
            return  # it answered: that is all we wait for
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s: {last}")


def start_process(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115 - closed when the process is stopped
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env or os.environ.copy())


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server (S3, SNS, SQS, DynamoDB, SSM, ...) as a real HTTP endpoint; yields its URL.

    Launched through ``rdfox_local.moto_atomic``: moto's own server, except that DynamoDB requests are applied
    one at a time, so that conditional writes are atomic as in DynamoDB (moto's threads race otherwise).
    """
    port = free_port()
    log_dir = tmp_path_factory.mktemp("moto")
    args = [sys.executable, "-m", "rdfox_local.moto_atomic", "-H", "127.0.0.1", "-p", str(port)]
    proc = start_process(args, log_dir / "moto.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", proc=proc)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture
def aws_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every boto3 client of this test at moto's server (boto3 honours AWS_ENDPOINT_URL)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    return moto_server


@pytest.fixture
def aws_default_connection(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Airflow's `aws_default` connection, from the environment, pointing at moto's server."""
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": aws_endpoint, "region_name": TEST_REGION},
            }
        ),
    )
    return "aws_default"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """This test process's Airflow metadata database (sqlite), migrated once; yields AIRFLOW_HOME.

    Airflow 3's ``dag.test()`` needs the DAG serialized in this database: run ``airflow dags test`` (or
    ``airflow dags reserialize``) with AIRFLOW__CORE__DAGS_FOLDER pointing at the DAG's folder first.
    """
    home = Path(os.environ["AIRFLOW_HOME"])
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow_bin, "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return home


@pytest.fixture
def cli_stdout_only() -> Iterator[None]:
    """For in-process CLI tests: capsys sees what the CLI prints, not Airflow's log lines.

    Airflow 3.0's console handler writes to whatever ``sys.stdout`` is when it logs, so in-process its INFO
    lines land in capsys; in a real ``rdfox-pipeline`` process they do not reach stdout (checked by hand on
    3.0.6 and 3.3). Detaching the root logger's handlers for the test gives the real process's view.
    """
    import logging

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        yield
    finally:
        root.handlers[:] = saved


@pytest.fixture
def no_resume_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that run a trigger in their own process: no 20-second hold before its event.

    The floor (rdfox_pipeline/triggers/resume_floor.py) guards against a scheduler race, and there is no
    scheduler here. Tests with a real scheduler run Airflow in other processes and keep the floor; its own
    unit test proves the hold.
    """
    from rdfox_pipeline.triggers import resume_floor

    monkeypatch.setattr(resume_floor, "RESUME_FLOOR_SECONDS", 0.0)


# The modules that start a live Airflow (scheduler, triggerer, api-server, dag-processor), longest first: they
# take minutes each, so they are handed out first (`make test` passes --no-loadscope-reorder, which keeps this
# order; xdist would otherwise hand out the modules with the most tests first and these few-test ones last,
# leaving one worker running the longest of them alone at the end).
LIVE_AIRFLOW_MODULES = (
    "tests/e2e/test_upload_burst.py",
    "tests/faults/test_live_airflow.py",
    "tests/e2e/test_scheduler_e2e.py",
    "tests/e2e/test_ui_browser.py",
)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Live-Airflow modules first, then the other modules with a slow test, then the rest (each group in
    collection order; a module's tests stay together and in their order)."""
    rank: dict[str, tuple[int, int]] = {}
    for item in items:
        module = _module(item)
        if module in LIVE_AIRFLOW_MODULES:
            rank[module] = (0, LIVE_AIRFLOW_MODULES.index(module))
        elif item.get_closest_marker("slow"):
            rank[module] = (1, 0)
        else:
            rank.setdefault(module, (2, 0))
    items.sort(key=lambda item: rank[_module(item)])  # stable
