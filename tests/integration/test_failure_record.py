"""Issue 13, scenario 6: every way a job task ends in failure leaves a failure status and a reason, once.

In-process, against the real local servers: the job table on moto's server, Neptune's emulator over HTTP, the
DAG's own tasks and their failure callbacks. Each failure is produced by the code path Airflow takes: the
trigger runs and its event resumes the task; a deferral timeout or a trigger crash is the ``__fail__`` resume
the worker gets from the scheduler; a task a person marks failed (or the scheduler fails, its worker lost)
has no callback at all, and ``notify_failure`` finds it through the run's task states.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from rdfox_pipeline.compat import AirflowException, AirflowFailException
from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

from tests.conftest import REPO_ROOT, TEST_REGION
from tests.integration.conftest import NeptuneEmulator
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.compat, pytest.mark.timeout(120), pytest.mark.usefixtures("no_resume_floor")]
DAG_FILE = REPO_ROOT / "dags" / "rdfox_neptune_pipeline.py"
ROLE = "arn:aws:iam::123456789012:role/NeptuneLoadFromS3"


@dataclass
class TI:
    """What the callback and notify_failure use of a task instance: XComs, ids, the run's task states."""

    task_id: str
    xcoms: dict[tuple[str, str], Any]
    states: dict[str, str] = field(default_factory=dict)
    dag_id: str = "rdfox_neptune_pipeline"
    run_id: str = "manual__failure-record"
    try_number: int = 1

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))

    def get_task_states(self, dag_id: str, run_ids: list[str], **_: Any) -> dict[str, Any]:
        assert dag_id == self.dag_id and run_ids == [self.run_id]
        return {self.run_id: dict(self.states)}


@pytest.fixture(scope="module")
def dag() -> Any:
    from rdfox_pipeline.compat import dag_bag_class

    bag = dag_bag_class()(dag_folder=str(DAG_FILE), bundle_path=DAG_FILE.parent)
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["rdfox_neptune_pipeline"]


@dataclass
class Job:
    hook: JobMetadataHook
    job_id: str
    output_bucket: str

    def at(self, status: str) -> Job:
        self.hook.record_status(self.job_id, status)
        return self

    @property
    def record(self) -> dict[str, Any]:
        return self.hook.require_job(self.job_id)

    def ti(self, task_id: str, **states: str) -> TI:
        registration = {"job_id": self.job_id, "jobspec": {"dataset": "FAILREC"}}
        return TI(task_id, {("register_job", "return_value"): registration}, states)


@pytest.fixture
def job(aws_default_connection: str, isolated_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Job:
    import boto3

    table = f"jobs-{uuid.uuid4().hex[:10]}"
    bucket = f"out-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION}
    )
    monkeypatch.setenv("JOB_TABLE_NAME", table)
    monkeypatch.setenv("OUTPUT_BUCKET", bucket)
    monkeypatch.setenv("NEPTUNE_SOURCE_FORMAT", "ntriples")
    hook = JobMetadataHook(aws_conn_id="aws_default", table_name=table)
    hook.create_table_if_missing()
    return Job(hook, hook.allocate_job("FAILREC", jobspec={"dataset": "FAILREC"}), bucket)


def fail(dag: Any, ti: TI, exc: BaseException | None) -> None:
    """What the task runner does when a task fails for good: its on_failure_callbacks, with the exception."""
    task = dag.get_task(ti.task_id)
    callbacks = task.on_failure_callback
    for callback in [callbacks] if callable(callbacks) else list(callbacks or ()):
        callback({"ti": ti, "task": task, "exception": exc})


def resume_failed(dag: Any, task_id: str, error: str) -> BaseException:
    """The worker's resume of a task whose trigger timed out or crashed (next_method ``__fail__``)."""
    with pytest.raises(AirflowException) as caught:
        dag.get_task(task_id).resume_execution(
            "__fail__", {"error": error, "traceback": ["Traceback", "ValueError: boom"]}, {}
        )
    return caught.value


def run_trigger(trigger: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


@pytest.mark.parametrize(
    ("status", "task_id", "error", "expected"),
    [
        (  # a deferral that reached its timeout
            "SCHEDULED", "parse_rdfox_log", "Trigger timeout",
            ("INFERENCE_FAILED",
             "AirflowSensorTimeout: Trigger timeout (the deferred wait reached its timeout)"),
        ),
        (  # a trigger that crashed
            "NEPTUNE_LOAD_IN_PROGRESS", "wait_for_neptune_load", "Trigger failure",
            ("NEPTUNE_LOAD_FAILED",
             "TaskDeferralError: Trigger failure (the trigger crashed; the task log has its traceback)"),
        ),
    ],
    ids=["deferral-timeout", "trigger-crash"],
)  # fmt: skip
def test_failed_deferral_records_the_failure(
    dag: Any, job: Job, status: str, task_id: str, error: str, expected: tuple[str, str]
) -> None:
    job.at(status)
    exc = resume_failed(dag, task_id, error)
    fail(dag, job.ti(task_id), exc)
    record = job.record
    assert record["job_status"] == expected[0]
    assert record["error_reason"] == f"{task_id} failed while {status}: {expected[1]}"


def _sensor(load_id: str, neptune: NeptuneEmulator) -> Any:
    from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor

    return NeptuneLoadStatusSensor(
        task_id="wait_for_neptune_load", load_id=load_id, neptune_endpoint=neptune.url, aws_conn_id=None
    )


def _trigger(load_id: str, neptune: NeptuneEmulator, deadline: float) -> Any:
    from rdfox_pipeline.triggers.neptune_load_status import NeptuneLoadStatusTrigger

    return NeptuneLoadStatusTrigger(
        load_id, neptune_endpoint=neptune.url, waiter_delay=0.1, deadline=deadline
    )


def test_neptune_timeout_event_records_the_failure(
    dag: Any, job: Job, neptune_emulator: NeptuneEmulator, neptune_connection: str
) -> None:
    from rdfox_pipeline.compat import AirflowSensorTimeout

    job.at("NEPTUNE_LOAD_IN_PROGRESS")
    neptune_emulator.control("faults", {"status": 500, "count": 1000})  # Neptune unavailable to the deadline
    [event] = run_trigger(_trigger("load-1", neptune_emulator, time.time() + 1))
    assert event.payload["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout) as caught:
        _sensor("load-1", neptune_emulator).execute_complete({}, event.payload)
    fail(dag, job.ti("wait_for_neptune_load"), caught.value)
    record = job.record
    assert record["job_status"] == "NEPTUNE_LOAD_FAILED"
    assert (
        "wait_for_neptune_load failed while NEPTUNE_LOAD_IN_PROGRESS: AirflowSensorTimeout: "
        in (record["error_reason"])
    )
    assert "load-1 did not finish by its deadline" in record["error_reason"]


def test_neptune_404_for_a_forgotten_load_fails_without_retry_and_is_recorded(
    dag: Any, job: Job, neptune_emulator: NeptuneEmulator, neptune_connection: str
) -> None:
    job.at("NEPTUNE_LOAD_IN_PROGRESS")
    [event] = run_trigger(_trigger("forgotten-load", neptune_emulator, time.time() + 30))
    assert event.payload["status"] == "error"
    with pytest.raises(AirflowFailException) as caught:  # no retry: polling again answers 404 again
        _sensor("forgotten-load", neptune_emulator).execute_complete({}, event.payload)
    fail(dag, job.ti("wait_for_neptune_load"), caught.value)
    record = job.record
    assert record["job_status"] == "NEPTUNE_LOAD_FAILED"
    assert "forgotten-load: cannot read its status: Neptune loader error 404" in record["error_reason"]
    # The poke path too: the hook's 404 is a no-retry failure.
    sensor = _sensor("forgotten-load", neptune_emulator)
    sensor.deferrable = False
    with pytest.raises(AirflowFailException, match="404"):
        sensor.poke({})


def _load_operator(**kwargs: Any) -> Any:
    from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator

    return NeptuneBulkLoadOperator(task_id="start_neptune_load", aws_conn_id="aws_default", **kwargs)


def test_400_from_post_loader_fails_without_retry_and_is_recorded(
    dag: Any, job: Job, neptune_emulator: NeptuneEmulator, neptune_connection: str
) -> None:
    job.at("INFERENCE_COMPLETE")  # the job's data/ prefix is empty: Neptune answers 400
    with pytest.raises(AirflowFailException, match="400") as caught:
        _load_operator(job_id=job.job_id, iam_role_arn=ROLE, region=TEST_REGION).execute({})
    assert neptune_emulator.list_load_ids() == []
    fail(dag, job.ti("start_neptune_load"), caught.value)
    record = job.record
    assert record["job_status"] == "NEPTUNE_LOAD_FAILED"
    assert record["error_reason"].startswith(
        "start_neptune_load failed while NEPTUNE_LOAD_NOT_STARTED: NeptuneRequestRejected: "
        "Neptune loader error 400"
    )


def test_missing_iam_role_fails_without_retry_and_is_recorded(
    dag: Any, job: Job, neptune_emulator: NeptuneEmulator, neptune_connection: str
) -> None:
    job.at("INFERENCE_COMPLETE")
    with pytest.raises(AirflowFailException, match="NEPTUNE_IAM_ROLE_ARN is not set") as caught:
        _load_operator(job_id=job.job_id, region=TEST_REGION).execute({})
    fail(dag, job.ti("start_neptune_load"), caught.value)
    record = job.record
    assert record["job_status"] == "NEPTUNE_LOAD_FAILED"
    assert (
        "start_neptune_load failed while INFERENCE_COMPLETE: AirflowFailException: NEPTUNE_IAM_ROLE_ARN"
        in (record["error_reason"])
    )


def _notify_failure(dag: Any, job: Job, ti: TI, topic: str) -> None:
    from rdfox_pipeline.operators.job_notification import JobNotificationOperator

    op = JobNotificationOperator(
        task_id="notify_failure", job_id=job.job_id, outcome="failure", target_arn=topic, table_name=None
    )
    op.execute({"ti": ti, "run_id": ti.run_id, "dag": dag})


@pytest.fixture
def topic(aws_default_connection: str) -> str:
    import boto3

    return boto3.client("sns").create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]


def test_reason_marked_failed_is_recorded_by_notify_failure(dag: Any, job: Job, topic: str) -> None:
    """No callback runs for a task a person marks failed: notify_failure names it and the last status."""
    job.at("SCHEDULED")
    ti = job.ti("notify_failure", register_job="success", reason="failed", parse_rdfox_log="upstream_failed")
    _notify_failure(dag, job, ti, topic)
    record = job.record
    assert record["job_status"] == "ERROR_NOTIFICATION_SENT"
    assert record["error_reason"].startswith("reason failed while SCHEDULED: no error reached the job record")


def test_a_failure_is_recorded_once_the_callbacks_reason_stands(dag: Any, job: Job, topic: str) -> None:
    job.at("SCHEDULED")
    fail(dag, job.ti("reason"), AirflowException("pod watch lost: 500 from the API server"))
    first = job.record
    assert first["job_status"] == "INFERENCE_FAILED"
    fail(dag, job.ti("reason"), AirflowException("a second callback (the scheduler's) says something else"))
    ti = job.ti("notify_failure", register_job="success", reason="failed")
    _notify_failure(dag, job, ti, topic)
    record = job.record
    assert record["error_reason"] == first["error_reason"]
    assert record["error_reason"] == (
        "reason failed while SCHEDULED: AirflowException: pod watch lost: 500 from the API server"
    )


def test_a_loaded_job_whose_notify_failed_gets_no_failure_status(dag: Any, job: Job, topic: str) -> None:
    job.at("NEPTUNE_LOAD_COMPLETED")
    ti = job.ti("notify_failure", notify="failed")
    _notify_failure(dag, job, ti, topic)
    record = job.record
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT" and "error_reason" not in record
