"""Jobs under a real Airflow (api-server, scheduler, dag-processor, triggerer) on the local stack.

Two runs, each started the way a user starts one:

* ``rdfox-pipeline submit`` uploads a jobspec; the input bucket notifies the jobspec queue; the DAG's asset
  watcher (in the triggerer) turns the message into an asset event, the scheduler starts an asset-triggered
  run, and that run starts the upload's own run (``upload__...``);
* ``rdfox-pipeline submit --trigger --wait`` starts a run through the REST API and prints its progress.

Both start together and run side by side.

A recorder polls the REST API throughout, so the tests can show that the waiting tasks sat in the DEFERRED
state (in the triggerer, holding no worker slot) while they waited.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DAG_ID, Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.compat]

WATCHED, SUBMITTED = "WATCHED", "SUBMITTED"
TERMINAL_JOB_STATUSES = {"SUCCESS_NOTIFICATION_SENT", "ERROR_NOTIFICATION_SENT"}
RUN_TIMEOUT = 900
# An upload's own run (started by the asset-triggered run): "operator_triggered" on 3.3, "manual" on 3.0.
UPLOAD_RUN = "manual|operator_triggered"


class TaskStateRecorder(threading.Thread):
    """Every task state each run went through, as seen by polling the REST API once a second."""

    def __init__(self, services: Any) -> None:
        super().__init__(daemon=True)
        self.services = services
        self.states: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.run_types: dict[str, str] = {}
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._poll()
            except Exception as exc:  # keep recording; the tests report what went wrong
                self.errors.append(repr(exc))
            self._stop_event.wait(1.0)

    def _poll(self) -> None:
        runs = self.services.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=50")["dag_runs"]
        for run in runs:
            run_id = run["dag_run_id"]
            self.run_types[run_id] = run["run_type"]
            if run["state"] in ("success", "failed") and run_id in self.states:
                finished = self.states[run_id].get("__run__", [])
                if finished and finished[-1] == run["state"]:
                    continue  # nothing changes after the end
            tis = self.services.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
            for ti in tis["task_instances"]:
                history = self.states[run_id][ti["task_id"]]
                if ti["state"] and (not history or history[-1] != ti["state"]):
                    history.append(ti["state"])
            history = self.states[run_id]["__run__"]
            if not history or history[-1] != run["state"]:
                history.append(run["state"])

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


class NotificationBox:
    """The SNS messages of the stack's subscription queue, kept by job id (tests run side by side)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.messages: list[dict[str, Any]] = []

    def for_job(self, job_id: str, timeout: float = 30) -> list[dict[str, Any]]:
        def found() -> list[dict[str, Any]]:
            self.messages += self.stack.demo.notifications(wait_seconds=2)
            return [m for m in self.messages if job_id in json.dumps(m)]

        return wait_for(found, timeout, interval=0.5, what=f"a notification for {job_id}")


def _cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("rdfox-pipeline")), *args]


@pytest.fixture(scope="module")
def airflow(local_stack: Stack) -> Iterator[tuple[Any, TaskStateRecorder]]:
    from rdfox_local.stack.airflow_services import AirflowServices

    # The stack is shared with the other e2e modules, whose uploads queued S3 events nobody consumed: the
    # asset watcher must see only this module's uploads.
    queue_url = local_stack.stack.state().resources["jobspec_queue_url"]
    local_stack.demo.sqs.purge_queue(QueueUrl=queue_url)
    services = AirflowServices(local_stack.stack)
    services.start(timeout=420)
    recorder = TaskStateRecorder(services)
    recorder.start()
    try:
        yield services, recorder
    finally:
        recorder.stop()
        services.stop()


@pytest.fixture(scope="module")
def started(local_stack: Stack, airflow: tuple[Any, TaskStateRecorder]) -> Iterator[dict[str, Any]]:
    """The watched upload (its run starts by itself) and the arguments of the REST-triggered run."""
    services, _ = airflow
    env = local_stack.stack.process_env()
    bucket = local_stack.demo.resources["input_bucket"]
    output = local_stack.demo.resources["output_bucket"]
    local_stack.upload_dataset(WATCHED)
    local_stack.upload_dataset(SUBMITTED)
    common = ["--cores", "1", "--memory", "1Gi", "--job-bucket", bucket, "--output-bucket", output]
    upload = subprocess.run(
        _cli("submit", "--dataset", WATCHED, "--name", "watched", *common),
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert upload.returncode == 0, upload.stderr
    trigger_args = _cli(
        "submit", "--dataset", SUBMITTED, *common,
        "--trigger", "--wait", "--airflow-url", services.api_url, "--timeout", str(RUN_TIMEOUT),
    )  # fmt: skip
    # Started now, so that the two jobs run side by side, as users' jobs do (the resume floor guards the
    # scheduler race, apache/airflow#72716, that running them one at a time used to avoid).
    submitted = subprocess.Popen(
        trigger_args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    yield {
        "upload": upload,
        "submitted": submitted,
        "notifications": NotificationBox(local_stack),
    }
    if submitted.poll() is None:
        submitted.kill()
        submitted.communicate()


def _finished_job(stack: Stack, dataset: str, recorder: TaskStateRecorder, run_type: str) -> dict[str, Any]:
    """The dataset's job once it has finished; fails at once if its run ended without registering one."""
    ended_at: list[float] = []

    def done() -> dict[str, Any] | None:
        records = stack.demo.job_records(dataset).values()
        finished = [r for r in records if r["job_status"] in TERMINAL_JOB_STATUSES]
        if finished:
            return finished[0]
        runs = {r: h for r, h in recorder.states.items() if recorder.run_types.get(r) in run_type.split("|")}
        if runs and all((h.get("__run__") or [""])[-1] in ("success", "failed") for h in runs.values()):
            ended_at.append(time.monotonic())
            if ended_at[-1] - ended_at[0] > 30:  # the record would be there by now
                states = {r: dict(h) for r, h in runs.items()}
                raise AssertionError(f"{run_type} run(s) ended with no finished {dataset} job: {states}")
        return None

    return wait_for(done, RUN_TIMEOUT, interval=3, what=f"a finished job of {dataset}")


def _attribute(message: dict[str, Any], name: str) -> str | None:
    return (message.get("MessageAttributes") or {}).get(name, {}).get("Value")


def test_upload_starts_a_run_through_the_asset_watcher(local_stack, airflow, started) -> None:
    _, recorder = airflow
    printed = started["upload"].stdout.strip()
    key = f"{WATCHED}/watched.rdfoxjob.json"
    assert printed == f"uploaded s3://{local_stack.demo.resources['input_bucket']}/{key}"
    body = local_stack.demo.s3.get_object(Bucket=local_stack.demo.resources["input_bucket"], Key=key)["Body"]
    assert json.loads(body.read())["dataset"] == WATCHED

    record = _finished_job(local_stack, WATCHED, recorder, UPLOAD_RUN)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT", record.get("error_reason")
    run_id = record["dag_run_id"]
    # Nobody triggered it: the S3 notification -> SQS -> asset watcher started an asset-triggered run, which
    # started the upload's own run (named after the upload).
    assert run_id.startswith("upload__WATCHED-watched.rdfoxjob.json__"), run_id
    assert "asset_triggered" in recorder.run_types.values(), recorder.run_types
    assert record["jobspec_uri"] == f"s3://{local_stack.demo.resources['input_bucket']}/{key}"
    messages = started["notifications"].for_job(record["job_id"])
    assert _attribute(messages[0], "outcome") == "success"
    assert not recorder.errors[:1], recorder.errors


def test_waiting_tasks_are_deferred_in_the_triggerer(local_stack, airflow, started) -> None:
    """Under the real scheduler the pod wait and the Neptune wait sit in DEFERRED, then succeed."""
    _, recorder = airflow
    record = _finished_job(local_stack, WATCHED, recorder, UPLOAD_RUN)
    wait_for(
        lambda: (recorder.states[record["dag_run_id"]].get("__run__") or [None])[-1] == "success",
        60,
        what="the recorder to see the run end",
    )
    history = recorder.states[record["dag_run_id"]]
    for task_id in ("reason", "wait_for_neptune_load"):
        assert "deferred" in history[task_id], (task_id, history[task_id])
        assert history[task_id][-1] == "success", (task_id, history[task_id])
        # It was handed back to a worker after the trigger fired.
        assert history[task_id].index("deferred") < len(history[task_id]) - 1
    assert history["notify_failure"][-1] == "skipped"
    assert history["mark_run_failed"][-1] == "skipped"
    assert history["__run__"][-1] == "success"


def test_submit_trigger_wait_runs_the_job_through_the_rest_api(local_stack, airflow, started) -> None:
    _, recorder = airflow
    submitted = started["submitted"]
    out, err = submitted.communicate(timeout=RUN_TIMEOUT + 60)
    assert submitted.returncode == 0, (out[-3000:], err[-3000:])
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"triggered {DAG_ID} run manual__"), lines[0]
    run_id = lines[0].split(" run ", 1)[1].split(" ", 1)[0]
    assert lines[-1] == f"run {run_id}: success"
    # Progress: each task's state changes, in order, ending with notify's success.
    progress = [line.split()[1:] for line in lines[1:-1]]
    assert ["register_job", "success"] in progress
    assert ["notify", "success"] in progress
    assert progress.index(["register_job", "success"]) < progress.index(["notify", "success"])

    record = _finished_job(local_stack, SUBMITTED, recorder, "manual")
    assert record["dag_run_id"] == run_id
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT", record.get("error_reason")
    assert record["jobspec"]["resources"]["cores"] == 1
    # The jobspec went inline: nothing was uploaded, so the watcher started no second run.
    keys = local_stack.demo.s3.list_objects_v2(
        Bucket=local_stack.demo.resources["input_bucket"], Prefix=f"{SUBMITTED}/"
    ).get("Contents", [])
    assert not [k["Key"] for k in keys if k["Key"].endswith(".rdfoxjob.json")]
    assert len(local_stack.demo.job_records(SUBMITTED)) == 1
    assert recorder.run_types[run_id] == "manual"
    assert _attribute(started["notifications"].for_job(record["job_id"])[0], "outcome") == "success"
