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


def _receive(queue_url: str, expected: int, wait_seconds: int = 5) -> list[dict]:
    """Up to ``expected`` envelopes (fewer if a long poll comes back empty), each deleted once read.

    One empty long poll ends the wait: moto's SNS delivers to the queue before Publish returns, so a message
    not there after ``wait_seconds`` is not coming (tests that expect fewer than ``expected`` wait once)."""
    sqs = boto3.client("sqs")
    envelopes: list[dict] = []
    for _ in range(3):
        if len(envelopes) >= expected:
            break
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        if not response.get("Messages"):
            break
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
    # The run's headline figures, stored again as the task's rendered field when it ends (issue 16).
    assert type(op).overwrite_rtif_after_execution is True and "job_summary" in op.template_fields
    assert op.job_summary["status"] == "SUCCESS_NOTIFICATION_SENT"
    assert (op.job_summary["job_id"], op.job_summary["loaded_triples"]) == (job_id, 41220091)

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
    assert op.job_summary["status"] == "ERROR_NOTIFICATION_SENT"
    assert "[REDACTED]" in op.job_summary["error_reason"] and "wJalrXUtnFEMI" not in str(op.job_summary)
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


# -- exactly one notification per job outcome (issue 13, scenario 5) -------------------------------------


def _fail_final_status_writes(hook: JobMetadataHook) -> list[str]:
    """Make this hook's UpdateItem calls that finish a job fail (DynamoDB unreachable for that write)."""
    from botocore.exceptions import EndpointConnectionError

    refused: list[str] = []

    def refuse(params: dict, **_: object) -> None:
        status = (params.get("ExpressionAttributeValues") or {}).get(":status", {}).get("S")
        if status in ("SUCCESS_NOTIFICATION_SENT", "ERROR_NOTIFICATION_SENT"):
            refused.append(status)
            raise EndpointConnectionError(endpoint_url="http://dynamodb.injected-fault")

    hook.conn.meta.events.register("before-parameter-build.dynamodb.UpdateItem", refuse)
    return refused


def _op(table: str, job_id: str, outcome: str, topic_arn: str, **kwargs: object) -> JobNotificationOperator:
    task_id = "notify" if outcome == "success" else "notify_failure"
    return JobNotificationOperator(
        task_id=task_id, job_id=job_id, outcome=outcome, target_arn=topic_arn, table_name=table, **kwargs
    )  # type: ignore[arg-type]


def _with_hook(op: JobNotificationOperator, hook: JobMetadataHook) -> JobNotificationOperator:
    op._metadata_hook = lambda: hook  # type: ignore[method-assign]
    return op


def _outcomes(envelopes: list[dict]) -> list[str]:
    return [e["MessageAttributes"]["outcome"]["Value"] for e in envelopes]


def test_status_write_failing_after_publish_is_not_published_again(
    table: str, topic_and_queue: tuple[str, str]
) -> None:
    """(a) Published, then the status write fails: notify_failure records it, announces no failure."""
    from rdfox_pipeline.compat import AirflowSkipException

    topic_arn, queue_url = topic_and_queue
    job_id = _job(table, "LOSTWRITE", "NEPTUNE_LOAD_COMPLETED")
    broken = JobMetadataHook(table_name=table, delimiter="_")
    refused = _fail_final_status_writes(broken)
    with pytest.raises(Exception, match="injected-fault"):
        _with_hook(_op(table, job_id, "success", topic_arn), broken).execute({})
    assert refused == ["SUCCESS_NOTIFICATION_SENT"]
    hook = JobMetadataHook(table_name=table, delimiter="_")
    assert hook.require_job(job_id)["job_status"] == "NEPTUNE_LOAD_COMPLETED"

    # notify failed, so notify_failure runs: the data loaded, so no failure is announced, nothing re-sent.
    message_id = _op(table, job_id, "failure", topic_arn).execute({})
    (envelope,) = _receive(queue_url, expected=2, wait_seconds=1)
    assert _outcomes([envelope]) == ["success"] and envelope["MessageId"] == message_id
    record = hook.require_job(job_id)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT"
    assert record["notification"]["message_id"] == message_id
    # A later retry of notify publishes nothing either.
    with pytest.raises(AirflowSkipException):
        _op(table, job_id, "success", topic_arn).execute({})
    assert _nothing_more(queue_url)


def test_status_write_failing_then_notify_retry_records_without_publishing(
    table: str, topic_and_queue: tuple[str, str]
) -> None:
    topic_arn, queue_url = topic_and_queue
    job_id = _job(table, "LOSTWRITE", "NEPTUNE_LOAD_COMPLETED")
    broken = JobMetadataHook(table_name=table, delimiter="_")
    _fail_final_status_writes(broken)
    with pytest.raises(Exception, match="injected-fault"):
        _with_hook(_op(table, job_id, "success", topic_arn), broken).execute({})
    retry_id = _op(table, job_id, "success", topic_arn).execute({})  # the task's retry
    (envelope,) = _receive(queue_url, expected=2, wait_seconds=1)
    assert envelope["MessageId"] == retry_id
    assert JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)["job_status"] == (
        "SUCCESS_NOTIFICATION_SENT"
    )
    assert _nothing_more(queue_url)


def _sns_fails_once(op: JobNotificationOperator) -> None:
    from botocore.exceptions import EndpointConnectionError

    def refuse(**_: object) -> None:
        raise EndpointConnectionError(endpoint_url="http://sns.injected-fault")

    op.hook.conn.meta.events.register("before-call.sns.Publish", refuse)


@pytest.mark.parametrize("second", ["notify retry", "notify_failure"])
def test_sns_failing_once_gives_one_success_message(
    table: str, topic_and_queue: tuple[str, str], second: str
) -> None:
    """(b) SNS fails on the first try: after the retry (or notify_failure) one success message, no failure."""
    topic_arn, queue_url = topic_and_queue
    job_id = _job(table, "SNSONCE", "NEPTUNE_LOAD_COMPLETED")
    first = _op(table, job_id, "success", topic_arn)
    _sns_fails_once(first)
    with pytest.raises(Exception, match="injected-fault"):
        first.execute({})
    outcome = "success" if second == "notify retry" else "failure"
    message_id = _op(table, job_id, outcome, topic_arn).execute({})
    envelopes = _receive(queue_url, expected=2, wait_seconds=1)
    assert _outcomes(envelopes) == ["success"] and envelopes[0]["MessageId"] == message_id
    record = JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT"
    assert record["notification_failures"] == 1


@pytest.fixture
def fifo_topic_and_queue(aws_default_connection: str) -> tuple[str, str]:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    suffix = uuid.uuid4().hex[:10]
    topic_arn = sns.create_topic(Name=f"bulkload-{suffix}.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"notes-{suffix}.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"])
    return topic_arn, queue_url


def _fifo_messages(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    messages: list[dict] = []
    for _ in range(3):
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        )
        if not response.get("Messages"):
            break  # an empty long poll: nothing more is coming (see _receive)
        for message in response.get("Messages", []):
            messages.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def test_fifo_topic_gets_group_and_deduplication_ids(
    table: str, fifo_topic_and_queue: tuple[str, str]
) -> None:
    """(c) FIFO: MessageGroupId = job id, MessageDeduplicationId = job id + outcome."""
    topic_arn, queue_url = fifo_topic_and_queue
    job_id = _job(table, "FIFO", "INFERENCE_FAILED", error_reason="boom")
    op = _op(table, job_id, "failure", topic_arn)
    sent: list[dict] = []
    op.hook.conn.meta.events.register(
        "before-parameter-build.sns.Publish", lambda params, **_: sent.append(params)
    )
    op.execute({})
    ((params),) = sent
    assert params["MessageGroupId"] == job_id
    assert params["MessageDeduplicationId"] == f"{job_id}.failure"
    (message,) = _fifo_messages(queue_url)
    assert message["Attributes"]["MessageGroupId"] == job_id
    assert json.loads(message["Body"])["MessageAttributes"]["outcome"]["Value"] == "failure"


def _crash_after_publish(hook: JobMetadataHook) -> None:
    """Every write after the claim fails: the try dies between publish and record."""
    from botocore.exceptions import EndpointConnectionError

    def refuse(params: dict, **_: object) -> None:
        if "notification_claim" in json.dumps(params) and ":claim" not in params.get(
            "ExpressionAttributeValues", {}
        ):
            raise EndpointConnectionError(endpoint_url="http://dynamodb.injected-crash")
        if (params.get("ExpressionAttributeValues") or {}).get(":status"):
            raise EndpointConnectionError(endpoint_url="http://dynamodb.injected-crash")

    hook.conn.meta.events.register("before-parameter-build.dynamodb.UpdateItem", refuse)


@pytest.mark.parametrize("fifo", [True, False], ids=["fifo", "standard"])
def test_crash_between_publish_and_record(
    table: str, topic_and_queue: tuple[str, str], fifo_topic_and_queue: tuple[str, str], fifo: bool
) -> None:
    """The retry cannot know whether the publish landed: it publishes again once the claim is stale, with
    the same deduplication id. FIFO topic: SNS drops it (one message); standard topic: one duplicate."""
    topic_arn, queue_url = fifo_topic_and_queue if fifo else topic_and_queue
    job_id = _job(table, "CRASH", "NEPTUNE_LOAD_COMPLETED")
    broken = JobMetadataHook(table_name=table, delimiter="_")
    _crash_after_publish(broken)
    lease = {"claim_lease_seconds": 1.0}
    with pytest.raises(Exception, match="injected-crash"):
        _with_hook(_op(table, job_id, "success", topic_arn, **lease), broken).execute({})
    record = JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)
    assert record["notification_claim"]["state"] == "publishing"
    _op(table, job_id, "success", topic_arn, **lease).execute({})
    got = _fifo_messages(queue_url) if fifo else _receive(queue_url, expected=3, wait_seconds=2)
    assert len(got) == (1 if fifo else 2)
    assert JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)["job_status"] == (
        "SUCCESS_NOTIFICATION_SENT"
    )


def test_two_concurrent_notify_tries_publish_once(table: str, topic_and_queue: tuple[str, str]) -> None:
    """(d) Two tries at once (e.g. a zombie and its successor): one claim wins, one publish."""
    import time

    from rdfox_pipeline.compat import AirflowSkipException

    topic_arn, queue_url = topic_and_queue
    job_id = _job(table, "RACE", "NEPTUNE_LOAD_COMPLETED")
    barrier = threading.Barrier(2)
    publishes: list[str] = []
    results: dict[int, object] = {}

    def slow_publish(**_: object) -> None:
        publishes.append("Publish")
        time.sleep(1.0)  # the other try arrives while this one is publishing

    def run(n: int) -> None:
        op = _op(table, job_id, "success", topic_arn, claim_lease_seconds=30.0)
        op.hook.conn.meta.events.register("before-send.sns.Publish", slow_publish)
        barrier.wait()
        try:
            results[n] = op.execute({})
        except AirflowSkipException as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(publishes) == 1
    assert sorted(type(r).__name__ for r in results.values()) == ["AirflowSkipException", "str"]
    assert len(_receive(queue_url, expected=2, wait_seconds=1)) == 1
    record = JobMetadataHook(table_name=table, delimiter="_").require_job(job_id)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT"
