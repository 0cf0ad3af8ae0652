"""JobNotificationOperator publishing to a real (moto server) SNS topic, read back through a subscribed SQS
queue: message, attributes for filtering, the finished status, and what happens when SNS fails."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date

import boto3
import pytest
from rdfox_pipeline.hooks import JobAlreadyFinished, JobMetadataHook
from rdfox_pipeline.operators.job_notification import JobNotificationOperator

from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

# Every test owns the SSM settings path: settings other tests left on the shared moto server (SSM wins over
# the environment) must not decide which topic, table or delimiter these tests use.
pytestmark = [pytest.mark.compat, pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_settings")]
DAY = date(2021, 8, 1)


@pytest.fixture
def table(aws_default_connection: str) -> str:
    name = f"jobs-{uuid.uuid4().hex[:10]}"
    JobMetadataHook(table_name=name, delimiter="_").create_table_if_missing()
    return name


@pytest.fixture
def topic_and_queue(aws_default_connection: str) -> tuple[str, str]:
    """A topic with an SQS subscription (raw delivery off: the queue gets the SNS envelope and attributes)."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    suffix = uuid.uuid4().hex[:10]
    topic_arn = sns.create_topic(Name=f"bulkload-{suffix}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"notes-{suffix}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"])
    return topic_arn, queue_url


def _receive(queue_url: str, expected: int, wait_seconds: int = 5) -> list[dict]:
    """Up to ``expected`` envelopes (fewer if the wait runs out), each deleted once read."""
    sqs = boto3.client("sqs")
    envelopes: list[dict] = []
    for _ in range(3):
        if len(envelopes) >= expected:
            break
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        for message in response.get("Messages", []):
            envelopes.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return envelopes


def _nothing_more(queue_url: str) -> bool:
    return _receive(queue_url, expected=1, wait_seconds=1) == []


def _job(table: str, dataset: str, status: str, **fields: object) -> str:
    hook = JobMetadataHook(table_name=table, delimiter="_")
    job_id = hook.allocate_job(dataset, day=DAY, jobspec={"dataset": dataset, "output_bucket": "out-bucket"})
    hook.record_status(job_id, status, **fields)
    return job_id


def test_success_notification_is_published_and_recorded(table: str, topic_and_queue: tuple[str, str]) -> None:
    topic_arn, queue_url = topic_and_queue
    job_id = _job(
        table, "NOTE", "NEPTUNE_LOAD_COMPLETED",
        rdfox_stats={
            "time_to_infer": 1621, "counts": {"partialChainCount": 1337}, "query_answers": {"q.rq": 5}
        },
        neptune_stats={"status": "LOAD_COMPLETED", "total_records": 41220091, "total_time_spent": 3014},
    )  # fmt: skip
    op = JobNotificationOperator(
        task_id="notify", job_id=job_id, outcome="success", target_arn=topic_arn, table_name=table
    )
    message_id = op.execute({})

    (envelope,) = _receive(queue_url, expected=1)
    assert envelope["MessageId"] == message_id
    assert envelope["Subject"] == f"RDFox job succeeded: {job_id}"
    assert "Partial chains found:  1,337" in envelope["Message"]
    assert "27 min 1 s" in envelope["Message"] and "41,220,091" in envelope["Message"]
    assert f"s3://out-bucket/NOTE/{job_id}/data/" in envelope["Message"]
    attributes = envelope["MessageAttributes"]
    assert attributes["job_id"] == {"Type": "String", "Value": job_id}
    assert attributes["status"] == {"Type": "String", "Value": "NEPTUNE_LOAD_COMPLETED"}
    assert attributes["outcome"] == {"Type": "String", "Value": "success"}

    record = JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT"
    assert record["notification"]["message_id"] == message_id
    assert record["notification"]["subject"] == envelope["Subject"]

    # A retry of a finished job is skipped and publishes nothing more.
    from rdfox_pipeline.compat import AirflowSkipException

    with pytest.raises(AirflowSkipException, match="already finished"):
        op.execute({})
    assert _nothing_more(queue_url)


def test_subscribers_can_filter_on_the_attributes(table: str, topic_and_queue: tuple[str, str]) -> None:
    """A subscription with a filter policy on ``status`` gets only the failures: the attributes are usable."""
    topic_arn, all_url = topic_and_queue
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    failures_url = sqs.create_queue(QueueName=f"failures-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=failures_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"],
        Attributes={"FilterPolicy": json.dumps({"status": ["INFERENCE_FAILED"]})},
    )  # fmt: skip
    ok = _job(table, "FILTER", "NEPTUNE_LOAD_COMPLETED")
    failed = _job(table, "FILTER", "INFERENCE_FAILED", error_reason="boom")
    for job_id, outcome in ((ok, "success"), (failed, "failure")):
        JobNotificationOperator(
            task_id=f"notify_{outcome}", job_id=job_id, outcome=outcome, target_arn=topic_arn,
            table_name=table,
        ).execute({})  # fmt: skip
    assert sorted(e["MessageAttributes"]["job_id"]["Value"] for e in _receive(all_url, 2)) == [ok, failed]
    (only,) = _receive(failures_url, expected=1)
    assert only["MessageAttributes"]["job_id"]["Value"] == failed
    assert _nothing_more(failures_url)


def test_failure_notification_uses_topic_setting_and_hides_credentials(
    table: str, topic_and_queue: tuple[str, str], isolated_settings
) -> None:
    topic_arn, queue_url = topic_and_queue
    isolated_settings("BULKLOAD_TOPIC", topic_arn)  # the SSM setting, read through aws_default
    job_id = _job(
        table, "FAILNOTE", "INFERENCE_FAILED",
        error_reason="pod failed: AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY exit 1",
        pod_name="rdfox-pod-testing-secret",  # holds the secret key in use ("testing"): must not be quoted
    )  # fmt: skip
    op = JobNotificationOperator(
        task_id="notify_failure", job_id="{{ params.job }}", outcome="failure", table_name=table
    )
    op.job_id = job_id  # what templating of "{{ params.job }}" gives at run time
    op.execute({})

    (envelope,) = _receive(queue_url, expected=1)
    assert envelope["Subject"] == f"RDFox job failed (INFERENCE_FAILED): {job_id}"
    assert "pod failed: AWS_SECRET_ACCESS_KEY=[REDACTED] exit 1" in envelope["Message"]
    assert "wJalrXUtnFEMI" not in json.dumps(envelope)
    # The connection's credentials (moto's "testing") are known secrets: never quoted, wherever they appear.
    assert "rdfox-pod-[REDACTED]-secret" in envelope["Message"]
    assert "testing" not in envelope["Message"]
    assert envelope["MessageAttributes"]["status"]["Value"] == "INFERENCE_FAILED"
    assert envelope["MessageAttributes"]["outcome"]["Value"] == "failure"
    hook = JobMetadataHook(table_name=table, delimiter="_")
    assert hook.require_job(job_id)["job_status"] == "ERROR_NOTIFICATION_SENT"
    with pytest.raises(JobAlreadyFinished):
        hook.record_status(job_id, "NEPTUNE_LOAD_COMPLETED")


def test_publish_failure_is_recorded_once_per_try_without_finishing_the_job(table: str) -> None:
    """SNS refuses (no such topic): one publish per task try; the record says why; the job stays open."""
    job_id = _job(table, "NOTOPIC", "NEPTUNE_LOAD_FAILED", error_reason="load failed")
    missing_topic = "arn:aws:sns:eu-west-2:123456789012:does-not-exist"
    sends: list[str] = []
    lock = threading.Lock()

    def count_send(**_: object) -> None:
        with lock:
            sends.append("Publish")

    for attempt in (1, 2):  # two task tries (e.g. notify, then notify_failure)
        op = JobNotificationOperator(
            task_id="notify_failure", job_id=job_id, outcome="failure", target_arn=missing_topic,
            table_name=table,
        )  # fmt: skip
        op.hook.conn.meta.events.register("before-send.sns.Publish", count_send)  # every HTTP attempt
        with pytest.raises(Exception, match=r"NotFound|does not exist"):
            op.execute({})
        assert len(sends) == attempt  # no retry loop: one request per try
        record = JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)
        assert record["job_status"] == "NEPTUNE_LOAD_FAILED"  # unfinished: a later try may still tell people
        assert "NotFound" in record["notification_error"] or "not exist" in record["notification_error"]
        assert record["notification_failures"] == attempt
        assert record["error_reason"] == "load failed"  # the job's own failure reason is kept


def test_unknown_job_fails_clearly(table: str) -> None:
    from rdfox_pipeline.hooks import JobNotFound

    op = JobNotificationOperator(
        task_id="notify", job_id="NOPE_2021-08-01_000", outcome="success",
        target_arn="arn:aws:sns:eu-west-2:123456789012:x", table_name=table,
    )  # fmt: skip
    with pytest.raises(JobNotFound, match="NOPE_2021-08-01_000"):
        op.execute({})
    with pytest.raises(ValueError, match="outcome"):
        JobNotificationOperator(task_id="n", job_id="x", outcome="done")  # type: ignore[arg-type]


OLD_SUBJECT = "Inference Result Notification for ID - {job_id} - JobStatus.{status}"


def test_old_subject_template_in_ssm_sends_exactly_the_old_subject(
    table: str, topic_and_queue: tuple[str, str], isolated_settings
) -> None:
    """Mail rules written for the old system keep matching: the template set in SSM, read by the task."""
    topic_arn, queue_url = topic_and_queue
    isolated_settings("NOTIFICATION_SUBJECT_TEMPLATE", OLD_SUBJECT)
    isolated_settings("KUBERNETES_NAMESPACE", "rdfox-jobs")
    kept = _job(
        table, "OLDSUBJ", "NEPTUNE_LOAD_COMPLETED",
        rdfox_endpoint_pod="rdfox-oldsubj-2021-08-01-000-endpoint",
        rdfox_endpoint_expires_at="2021-08-02T10:00:00+00:00",
    )  # fmt: skip
    failed = _job(table, "OLDSUBJ", "INFERENCE_FAILED", error_reason="boom")
    for job_id, outcome in ((kept, "success"), (failed, "failure")):
        JobNotificationOperator(
            task_id=f"notify_{outcome}", job_id=job_id, outcome=outcome, target_arn=topic_arn,
            table_name=table,
        ).execute({})  # fmt: skip
    envelopes = {e["MessageAttributes"]["job_id"]["Value"]: e for e in _receive(queue_url, expected=2)}
    assert envelopes[kept]["Subject"] == (
        f"Inference Result Notification for ID - {kept} - JobStatus.NEPTUNE_LOAD_COMPLETED"
    )
    assert envelopes[failed]["Subject"] == (
        f"Inference Result Notification for ID - {failed} - JobStatus.INFERENCE_FAILED"
    )
    body = envelopes[kept]["Message"]
    assert "  Kept up:                 yes, until 2021-08-02T10:00:00+00:00\n" in body
    assert "kubectl port-forward -n rdfox-jobs pod/rdfox-oldsubj-2021-08-01-000-endpoint 12110:12110" in body
    assert f"rdfox-pipeline endpoint delete {kept} --namespace rdfox-jobs" in body
    assert "no: no RDFox endpoint is active for this job" in envelopes[failed]["Message"]
    record = JobMetadataHook(table_name=table, delimiter="_").require_job(kept)
    assert record["notification"]["subject"] == envelopes[kept]["Subject"]


def test_a_bad_subject_template_fails_the_task_before_publishing(
    table: str, topic_and_queue: tuple[str, str], isolated_settings
) -> None:
    from rdfox_pipeline.domain.settings import SettingsError

    topic_arn, queue_url = topic_and_queue
    isolated_settings("NOTIFICATION_SUBJECT_TEMPLATE", "Job {job_id.__class__.__mro__}")
    job_id = _job(table, "BADTPL", "NEPTUNE_LOAD_COMPLETED")
    op = JobNotificationOperator(
        task_id="notify", job_id=job_id, outcome="success", target_arn=topic_arn, table_name=table
    )
    with pytest.raises(SettingsError, match=r"^NOTIFICATION_SUBJECT_TEMPLATE: field .*attribute access"):
        op.execute({})
    assert _nothing_more(queue_url)
    assert JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)["job_status"] == (
        "NEPTUNE_LOAD_COMPLETED"
    )
