"""Faults around the job record and the notification, against moto's server (DynamoDB, SNS, SQS):

* conflicting DynamoDB writes: two writers that both saw CREATED -- the second is refused, the first one's
  write stands; a late write to a finished job is refused and changes nothing;
* SNS failing: the notify task fails, the record says why (``notification_error``) and keeps its status;
  the SDK's retries are bounded (no retry storm) and so are the DAG's; once SNS is back, exactly one
  notification goes out and the job is finished.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import TEST_REGION
from tests.faults.conftest import AwsWorld, attributes

DATASET = "RECORDFAULTS"
MAX_SNS_ATTEMPTS = 10  # far above botocore's retry modes (legacy 5, standard 3): more would be a storm


def _hook() -> Any:
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    return JobMetadataHook(aws_conn_id="aws_default")


def _new_job(status: str = "INFERENCE_COMPLETE") -> str:
    hook = _hook()
    job_id = hook.allocate_job(DATASET, dag_run_id="manual__record-faults")
    if status != "CREATED":
        hook.record_status(job_id, status)
    return str(job_id)


def test_conflicting_status_writes(aws_world: AwsWorld) -> None:
    from rdfox_pipeline.aws.job_table import UnexpectedJobStatus

    job_id = _new_job("CREATED")
    first, second = _hook(), _hook()  # two workers, each with its own client
    first.record_status(job_id, "SCHEDULED", expected_status="CREATED", pod_name="pod-of-first")
    with pytest.raises(UnexpectedJobStatus):
        second.record_status(job_id, "SCHEDULE_FAILED", expected_status="CREATED", error_reason="late")
    record = aws_world.job_record(job_id)
    assert record is not None
    assert record["job_status"] == "SCHEDULED" and record["pod_name"] == "pod-of-first"
    assert "error_reason" not in record
    assert len([r for r in aws_world.jobs_of(DATASET) if r["job_id"] == job_id]) == 1


def test_late_write_to_a_finished_job_changes_nothing(aws_world: AwsWorld) -> None:
    from rdfox_pipeline.aws.job_table import JobAlreadyFinished

    job_id = _new_job()
    _hook().record_status(job_id, "ERROR_NOTIFICATION_SENT", error_reason="the pod failed")
    before = aws_world.job_record(job_id)
    with pytest.raises(JobAlreadyFinished):
        _hook().record_status(job_id, "NEPTUNE_LOAD_COMPLETED", neptune_load_id="late-load")
    assert aws_world.job_record(job_id) == before


# -- SNS failing ---------------------------------------------------------------------------------------------
class _FailingSns(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.requests = 0
        super().__init__(("127.0.0.1", 0), _SnsHandler)


class _SnsHandler(BaseHTTPRequestHandler):
    server: _FailingSns

    def do_POST(self) -> None:
        self.server.requests += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (
            b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
            b"<Message>injected SNS failure</Message></Error><RequestId>x</RequestId></ErrorResponse>"
        )
        self.send_response(500)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_sns(aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[_FailingSns]:
    """aws_default with SNS (only SNS) pointed at a server that answers 500 to everything."""
    server = _FailingSns()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    extra = {
        "endpoint_url": aws_world.url,
        "region_name": TEST_REGION,
        "service_config": {"sns": {"endpoint_url": f"http://127.0.0.1:{server.server_address[1]}"}},
    }
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _notify(aws_world: AwsWorld, job_id: str) -> Any:
    from rdfox_pipeline.operators.job_notification import JobNotificationOperator

    op = JobNotificationOperator(task_id="notify_failure", outcome="failure", job_id=job_id)
    return op.execute(aws_world.context())


def test_sns_failing_is_recorded_without_a_retry_storm(
    aws_world: AwsWorld, failing_sns: _FailingSns, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _new_job()
    _hook().record_status(job_id, "INFERENCE_FAILED", error_reason="container rdfox exited with status 1")
    with pytest.raises(Exception, match=r"InternalFailure|injected SNS failure|500"):
        _notify(aws_world, job_id)
    assert 1 <= failing_sns.requests <= MAX_SNS_ATTEMPTS, failing_sns.requests
    record = aws_world.job_record(job_id)
    assert record is not None
    assert record["job_status"] == "INFERENCE_FAILED", "not finished: nobody was told"
    assert "InternalFailure" in record["notification_error"] or "SNS" in record["notification_error"]
    assert "\n" not in record["notification_error"]
    assert aws_world.notifications_for(job_id, wait_seconds=2) == []

    # SNS is back (the task's retry): one notification, the job finished.
    monkeypatch.undo()
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": aws_world.url, "region_name": TEST_REGION},
            }
        ),
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_world.url)
    _notify(aws_world, job_id)
    record = aws_world.job_record(job_id)
    assert record is not None and record["job_status"] == "ERROR_NOTIFICATION_SENT"
    messages = aws_world.notifications_for(job_id)
    assert len(messages) == 1 and attributes(messages[0])["status"] == "INFERENCE_FAILED"
    # A further retry (or a second run of the task) does not notify twice.
    from rdfox_pipeline.compat import AirflowSkipException

    with pytest.raises(AirflowSkipException):
        _notify(aws_world, job_id)
    assert aws_world.notifications_for(job_id, wait_seconds=2) == messages


def test_the_dags_notify_tasks_retry_a_bounded_number_of_times() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "dags" / "rdfox_neptune_pipeline.py"
    spec = importlib.util.spec_from_file_location("dag_under_test_record_faults", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for task_id in ("notify", "notify_failure"):
        task = module.dag.get_task(task_id)
        assert task.retries <= 3, f"{task_id} retries {task.retries} times"
        # A retry is what finishes a job after "published, status not written" or SNS failing once; it
        # comes well inside SNS's 5-minute FIFO deduplication window.
        assert task.retries >= 1, f"{task_id} never retries"
        assert task.retry_delay.total_seconds() <= 60
