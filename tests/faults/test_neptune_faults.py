"""Neptune faults, against the Neptune emulator as its own process (reading S3 from this module's moto),
through the DAG's own operators as a worker and the triggerer call them:

* bursts of 500 and of 429 while the load is started and while it is polled: one load, job completed;
* each failure status the loader can end with: the job records it (NEPTUNE_<status>) with the reason, once;
* a worker killed inside ``start_neptune_load`` after Neptune accepted the POST but before the answer came
  back (a proxy holds the answer, the worker process is SIGKILLed), then the task retried: exactly one load.

Each test ends by checking the job record against the emulator (the load ids) and S3 (the job's outputs).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rdfox_local.compose_setup import LocalStackConfig

from tests.conftest import TEST_REGION, free_port, start_process, stop_process, wait_for_http
from tests.faults.conftest import AwsWorld

# The triggers run in this process, with no scheduler to race: no resume floor (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_resume_floor")

DATASET = "NEPTUNEFAULTS"
TRIPLES = "".join(
    f"<http://example.org/s{i}> <http://example.org/p> <http://example.org/o{i}> .\n" for i in range(50)
)
FAILURE_STATUSES = sorted(
    {
        "LOAD_CANCELLED_BY_USER",
        "LOAD_CANCELLED_DUE_TO_ERRORS",
        "LOAD_UNEXPECTED_ERROR",
        "LOAD_FAILED",
        "LOAD_S3_READ_ERROR",
        "LOAD_S3_ACCESS_DENIED_ERROR",
        "LOAD_COMMITTED_W_WRITE_CONFLICTS",
        "LOAD_DATA_DEADLOCK",
        "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED",
        "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED",
        "LOAD_FAILED_INVALID_REQUEST",
    }
)


class Neptune:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def loads_of(self, job_id: str) -> list[str]:
        ids = self.call("/loader?limit=100")["payload"]["loadIds"]
        return [
            i
            for i in ids
            if job_id in str(self.call(f"/_emulator/loads/{i}")["overallStatus"].get("fullUri"))
        ]


def _neptune_conn(port: int) -> str:
    extra = {
        "use_https": False,
        "iam_auth": False,
        "region": TEST_REGION,
        "backoff_base": 0.05,
        "backoff_max": 0.5,
    }
    return json.dumps(
        {"conn_type": "neptune", "host": "127.0.0.1", "port": port, "schema": "http", "extra": extra}
    )


@pytest.fixture(scope="module")
def neptune(aws_world: AwsWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neptune]:
    port = free_port()
    args = [sys.executable, "-m", "rdfox_local.neptune_emulator", "--host", "127.0.0.1", "--port", str(port),
            "--s3-endpoint", aws_world.url, "--region", TEST_REGION,
            "--attached-role", LocalStackConfig().neptune_iam_role_arn]  # fmt: skip
    proc = start_process(args, tmp_path_factory.mktemp("neptune") / "neptune.log")
    mp = pytest.MonkeyPatch()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/status", proc=proc)
        mp.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", _neptune_conn(port))
        mp.setenv("NEPTUNE_SOURCE_FORMAT", "ntriples")
        yield Neptune(f"http://127.0.0.1:{port}")
    finally:
        mp.undo()
        stop_process(proc)


@pytest.fixture
def job(aws_world: AwsWorld, neptune: Neptune) -> str:
    """A job whose reasoning is done: record INFERENCE_COMPLETE, outputs under its data/ prefix."""
    from rdfox_pipeline.domain.jobspec import parse_jobspec
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    neptune.call("/_emulator/reset", {})
    spec = parse_jobspec({"dataset": DATASET, "output_bucket": aws_world.output_bucket})
    hook = JobMetadataHook(aws_conn_id="aws_default")
    job_id = hook.allocate_job(DATASET, jobspec=spec, dag_run_id=f"run-{os.urandom(4).hex()}")
    s3 = aws_world.client("s3")
    s3.put_object(
        Bucket=aws_world.output_bucket, Key=f"{DATASET}/{job_id}/data/part-0.nt", Body=TRIPLES.encode()
    )
    s3.put_object(Bucket=aws_world.output_bucket, Key=f"{DATASET}/{job_id}/rdfox.log", Body=b"log")
    hook.record_status(job_id, "INFERENCE_COMPLETE")
    return str(job_id)


def _start(job_id: str) -> str:
    from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator

    return NeptuneBulkLoadOperator(task_id="start_neptune_load", job_id=job_id).execute({})


def _wait(job_id: str, load_id: str) -> dict[str, Any]:
    """The sensor as Airflow runs it: execute defers; the triggerer runs the trigger; execute_complete."""
    from rdfox_pipeline.compat import TaskDeferred
    from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor

    sensor = NeptuneLoadStatusSensor(
        task_id="wait_for_neptune_load", load_id=load_id, job_id=job_id, poke_interval=0.2
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})

    async def first_event() -> Any:
        async for event in deferred.value.trigger.run():
            return event
        return None

    event = asyncio.run(asyncio.wait_for(first_event(), timeout=60))
    return sensor.execute_complete({}, event.payload)


def _check_consistent(world: AwsWorld, neptune: Neptune, job_id: str, status: str) -> dict[str, Any]:
    record = world.job_record(job_id)
    assert record is not None and record["job_status"] == status, record
    assert neptune.loads_of(job_id) == [record["neptune_load_id"]], "exactly one load, the recorded one"
    keys = [o["Key"] for o in world.client("s3").list_objects_v2(
        Bucket=world.output_bucket, Prefix=f"{DATASET}/{job_id}/").get("Contents", [])]  # fmt: skip
    assert sorted(keys) == [f"{DATASET}/{job_id}/data/part-0.nt", f"{DATASET}/{job_id}/rdfox.log"]
    return record


@pytest.mark.parametrize("http_status", [500, 429])
def test_bursts_of_errors_while_starting_and_polling(
    http_status: int, job: str, aws_world: AwsWorld, neptune: Neptune
) -> None:
    neptune.call("/_emulator/faults", {"status": http_status, "count": 3})
    load_id = _start(job)
    assert neptune.call("/_emulator/stats")["faults"]["injected_failures"] == 3
    neptune.call("/_emulator/faults", {"status": http_status, "count": 3})
    result = _wait(job, load_id)
    assert neptune.call("/_emulator/stats")["faults"]["injected_failures"] == 6
    assert result["total_records"] == 50
    record = _check_consistent(aws_world, neptune, job, "NEPTUNE_LOAD_COMPLETED")
    assert record["neptune_stats"]["total_records"] == 50


@pytest.mark.parametrize("loader_status", FAILURE_STATUSES)
def test_each_loader_failure_status(
    loader_status: str, job: str, aws_world: AwsWorld, neptune: Neptune
) -> None:
    from rdfox_pipeline.compat import AirflowFailException

    neptune.call("/_emulator/next-load-status", {"status": loader_status})
    load_id = _start(job)
    # A finished load does not change: no retry (it would only poll the same answer again, minutes later).
    with pytest.raises(AirflowFailException) as info:
        _wait(job, load_id)
    assert loader_status in str(info.value)
    record = _check_consistent(aws_world, neptune, job, f"NEPTUNE_{loader_status}")
    reason = record["error_reason"]
    assert loader_status in reason and load_id in reason


# -- a worker killed inside start_neptune_load ---------------------------------------------------------------
class _HoldingProxy(ThreadingHTTPServer):
    """Forwards to Neptune; the answer to POST /loader is held back (the worker never learns the load id)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.load_posted = threading.Event()
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _HoldingProxy

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        request = urllib.request.Request(self.server.target + self.path, data=body, method=self.command)
        for name in ("Content-Type", "Accept"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        if self.command == "POST" and self.path.startswith("/loader"):
            self.server.load_posted.set()  # Neptune has started the load; its answer never arrives
            self.server.release.wait(120)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward

    def log_message(self, *args: Any) -> None:
        pass


_WORKER = """
import sys
from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
print(NeptuneBulkLoadOperator(task_id="start_neptune_load", job_id=sys.argv[1]).execute({}), flush=True)
"""


def test_worker_killed_inside_start_neptune_load_then_retried(
    job: str, aws_world: AwsWorld, neptune: Neptune
) -> None:
    proxy = _HoldingProxy(neptune.url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "AIRFLOW_CONN_NEPTUNE_DEFAULT": _neptune_conn(proxy.server_address[1])}
        worker = subprocess.Popen([sys.executable, "-c", _WORKER, job], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)  # fmt: skip
        try:
            assert proxy.load_posted.wait(120), "the worker never POSTed the load"
        finally:
            worker.send_signal(signal.SIGKILL)  # the worker dies inside the task, like an OOM kill
            output = worker.communicate(timeout=30)[0].decode(errors="replace")
        assert worker.returncode == -signal.SIGKILL, output
    finally:
        proxy.release.set()
        proxy.shutdown()
        proxy.server_close()
    started = neptune.loads_of(job)
    assert len(started) == 1, "Neptune started the load before the worker died"
    record = aws_world.job_record(job)
    assert record is not None and "neptune_load_id" not in record, "the worker died before recording it"
    assert record.get("neptune_load_source"), "the intent was recorded before the POST"
    # The retry (a new worker process would do the same) finds that load instead of starting a second one.
    load_id = _start(job)
    assert load_id == started[0]
    _wait(job, load_id)
    _check_consistent(aws_world, neptune, job, "NEPTUNE_LOAD_COMPLETED")
