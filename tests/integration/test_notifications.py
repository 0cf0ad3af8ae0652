"""JobNotificationOperator publishing to a real (moto server) SNS topic, read back through a subscribed SQS queue."""

from __future__ import annotations

import json
import uuid
from datetime import date

import boto3
import pytest

from rdfox_pipeline.hooks import JobAlreadyFinished, JobMetadataHook
from rdfox_pipeline.operators.job_notification import JobNotificationOperator

pytestmark = pytest.mark.timeout(120)
DAY = date(2021, 8, 1)


@pytest.fixture
def table(aws_default_connection: str) -> str:
    name = f"jobs-{uuid.uuid4().hex[:10]}"
    JobMetadataHook(table_name=name, delimiter="_").create_table_if_missing()
    return name


@pytest.fixture
def topic_and_queue(aws_default_connection: str) -> tuple[str, str]:
    """A topic with a raw-delivery-off SQS subscription, so the queue sees the SNS envelope with attributes."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    suffix = uuid.uuid4().hex[:10]
    topic_arn = sns.create_topic(Name=f"bulkload-{suffix}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"notes-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def _receive(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def _job(table: str, dataset: str, status: str, **fields: object) -> str:
    hook = JobMetadataHook(table_name=table, delimiter="_")
    job_id = hook.allocate_job(dataset, day=DAY, jobspec={"dataset": dataset, "output_bucket": "out-bucket"})
    hook.record_status(job_id, status, **fields)
    return job_id


def test_success_notification_is_published_and_recorded(table: str, topic_and_queue: tuple[str, str]) -> None:
    topic_arn, queue_url = topic_and_queue
    job_id = _job(
        table, "NOTE", "NEPTUNE_LOAD_COMPLETED",
        rdfox_stats={"time_to_infer": 1621, "counts": {"partialChainCount": 1337}, "query_answers": {"q.rq": 5}},
        neptune_stats={"status": "LOAD_COMPLETED", "total_records": 41220091, "total_time_spent": 3014},
    )
    op = JobNotificationOperator(
        task_id="notify", job_id=job_id, outcome="success", target_arn=topic_arn, table_name=table
    )
    message_id = op.execute({})

    (envelope,) = _receive(queue_url)
    assert envelope["MessageId"] == message_id
    assert envelope["Subject"] == f"RDFox job succeeded: {job_id}"
    assert "Partial chains found:  1,337" in envelope["Message"]
    assert "27 min 1 s" in envelope["Message"] and "41,220,091" in envelope["Message"]
    assert f"s3://out-bucket/NOTE/{job_id}/data/" in envelope["Message"]
    attributes = {k: v for k, v in envelope["MessageAttributes"].items()}
    assert attributes["job_id"] == {"Type": "String", "Value": job_id}
    assert attributes["status"] == {"Type": "String", "Value": "NEPTUNE_LOAD_COMPLETED"}
    assert attributes["outcome"] == {"Type": "String", "Value": "success"}

    record = JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT"
    assert record["notification"]["message_id"] == message_id
    assert record["notification"]["subject"] == envelope["Subject"]

    # A retry of a finished job is skipped and publishes nothing more.
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException, match="already finished"):
        op.execute({})
    assert _receive(queue_url) == []


def test_failure_notification_uses_topic_setting_and_hides_credentials(
    table: str, topic_and_queue: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    topic_arn, queue_url = topic_and_queue
    monkeypatch.setenv("BULKLOAD_TOPIC", topic_arn)
    clear_settings_cache()
    job_id = _job(
        table, "FAILNOTE", "INFERENCE_FAILED",
        error_reason="pod failed: AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY exit 1",
    )
    op = JobNotificationOperator(task_id="notify_failure", job_id="{{ params.job }}", outcome="failure",
                                 table_name=table)
    op.job_id = job_id  # what templating of "{{ params.job }}" gives at run time
    op.execute({})

    (envelope,) = _receive(queue_url)
    assert envelope["Subject"] == f"RDFox job failed (INFERENCE_FAILED): {job_id}"
    assert "pod failed: AWS_SECRET_ACCESS_KEY=[REDACTED] exit 1" in envelope["Message"]
    assert "wJalrXUtnFEMI" not in json.dumps(envelope)
    assert envelope["MessageAttributes"]["status"]["Value"] == "INFERENCE_FAILED"
    assert envelope["MessageAttributes"]["outcome"]["Value"] == "failure"
    hook = JobMetadataHook(table_name=table, delimiter="_")
    assert hook.require_job(job_id)["job_status"] == "ERROR_NOTIFICATION_SENT"
    with pytest.raises(JobAlreadyFinished):
        hook.record_status(job_id, "NEPTUNE_LOAD_COMPLETED")


def test_publish_failure_is_recorded_without_finishing_the_job(table: str) -> None:
    job_id = _job(table, "NOTOPIC", "NEPTUNE_LOAD_FAILED", error_reason="load failed")
    missing_topic = "arn:aws:sns:eu-west-2:123456789012:does-not-exist"
    op = JobNotificationOperator(
        task_id="notify_failure", job_id=job_id, outcome="failure", target_arn=missing_topic, table_name=table
    )
    with pytest.raises(Exception, match="NotFound|does not exist"):
        op.execute({})
    record = JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)
    assert record["job_status"] == "NEPTUNE_LOAD_FAILED"  # not finished: a retry may still tell people
    assert "NotFound" in record["notification_error"] or "not exist" in record["notification_error"]
    assert record["error_reason"] == "load failed"  # the job's own failure reason is kept


def test_unknown_job_fails_clearly(table: str) -> None:
    from rdfox_pipeline.hooks import JobNotFound

    op = JobNotificationOperator(
        task_id="notify", job_id="NOPE_2021-08-01_000", outcome="success",
        target_arn="arn:aws:sns:eu-west-2:123456789012:x", table_name=table,
    )
    with pytest.raises(JobNotFound, match="NOPE_2021-08-01_000"):
        op.execute({})
    with pytest.raises(ValueError, match="outcome"):
        JobNotificationOperator(task_id="n", job_id="x", outcome="done")  # type: ignore[arg-type]
