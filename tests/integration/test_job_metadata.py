"""JobMetadataHook against moto's server over HTTP: allocation race, transitions, guard, pagination, big fields."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date

import boto3
import pytest

from rdfox_pipeline.domain.statuses import JobStatus
from rdfox_pipeline.hooks import (
    JobAlreadyFinished,
    JobMetadataError,
    JobMetadataHook,
    JobNotFound,
    UnexpectedJobStatus,
)

pytestmark = pytest.mark.timeout(120)
DAY = date(2021, 8, 1)


def _hook(table: str, **kwargs) -> JobMetadataHook:
    # aws_conn_id=None: plain boto3 session from the environment (AWS_ENDPOINT_URL -> moto).
    return JobMetadataHook(aws_conn_id=None, table_name=table, delimiter="_", **kwargs)


@pytest.fixture
def table(aws_endpoint: str) -> str:
    name = f"jobs-{uuid.uuid4().hex[:10]}"
    assert _hook(name).create_table_if_missing() is True
    return name


@pytest.fixture
def bucket(aws_endpoint: str) -> str:
    name = f"out-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    return name


def test_create_table_is_idempotent_and_has_status_index(table: str) -> None:
    assert _hook(table).create_table_if_missing() is False
    description = boto3.client("dynamodb").describe_table(TableName=table)["Table"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = description["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "Job_Status_Index"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["job_status", "updated_at"]


def test_allocate_writes_created_record(table: str) -> None:
    hook = _hook(table)
    job_id = hook.allocate_job(
        "MYDATASET",
        day=DAY,
        jobspec={"dataset": "MYDATASET", "resources": {"cores": 4}, "ratio": 0.25},
        dag_run_id="manual__1",
    )
    assert job_id == "MYDATASET_2021-08-01_000"
    record = hook.require_job(job_id)
    assert record["job_status"] == "CREATED"
    assert record["job_key"] == "2021-08-01_000"
    assert record["dataset"] == "MYDATASET"
    assert record["jobspec"] == {"dataset": "MYDATASET", "resources": {"cores": 4}, "ratio": 0.25}
    assert record["dag_run_id"] == "manual__1"
    assert record["created_at"] == record["updated_at"]
    assert record["created_at"].endswith("+00:00")
    json.dumps(record)  # plain JSON-able: no Decimal left
    assert hook.allocate_job("MYDATASET", day=DAY) == "MYDATASET_2021-08-01_001"
    assert hook.allocate_job("MYDATASET", day=date(2021, 8, 2)) == "MYDATASET_2021-08-02_000"
    assert hook.allocate_job("OTHER", day=DAY) == "OTHER_2021-08-01_000"


def test_twenty_concurrent_allocations_get_distinct_consecutive_ids(table: str) -> None:
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)
    lock = threading.Lock()
    put_attempts: list[int] = []

    def count_put(**_: object) -> None:
        with lock:
            put_attempts.append(1)

    def allocate() -> None:
        hook = _hook(table)  # its own session and client, as separate workers would have
        hook.conn.meta.events.register("after-call.dynamodb.PutItem", count_put)
        barrier.wait()
        try:
            job_id = hook.allocate_job("RACE", day=DAY)
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(job_id)

    threads = [threading.Thread(target=allocate) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors, errors
    assert sorted(results) == [f"RACE_2021-08-01_{n:03d}" for n in range(20)]
    assert len(put_attempts) > 20, "the allocations never collided: the race was not exercised"
    # and the table agrees: exactly 20 items, one per id
    items = list(_hook(table).iter_jobs_by_status("CREATED", page_size=7))
    assert sorted(i["job_id"] for i in items) == sorted(results)


def test_dataset_with_delimiter_is_rejected_before_any_write(table: str) -> None:
    with pytest.raises(ValueError, match="delimiter"):
        _hook(table).allocate_job("MY_DATASET", day=DAY)


def test_transitions_and_finished_guard(table: str) -> None:
    hook = _hook(table)
    job_id = hook.allocate_job("TRANS", day=DAY)
    rec = hook.record_status(
        job_id, JobStatus.SCHEDULED, pod_name="rdfox-trans-000", worker_node_type="r5.4xlarge"
    )
    assert rec["job_status"] == "SCHEDULED" and rec["pod_name"] == "rdfox-trans-000"
    assert rec["updated_at"] >= rec["created_at"]
    rec = hook.record_status(
        job_id,
        "INFERENCE_COMPLETE",
        expected_status="SCHEDULED",
        rdfox_stats={"counts": {"partialChainCount": 1337}, "inference_seconds": 1621.5},
    )
    assert rec["rdfox_stats"] == {"counts": {"partialChainCount": 1337}, "inference_seconds": 1621.5}
    assert rec["pod_name"] == "rdfox-trans-000"  # earlier fields survive
    with pytest.raises(UnexpectedJobStatus, match="INFERENCE_COMPLETE"):
        hook.record_status(job_id, "NEPTUNE_LOAD_IN_PROGRESS", allowed_from=["SCHEDULED", "CREATED"])
    hook.record_status(job_id, "NEPTUNE_LOAD_FAILED", neptune_load_id="abc", error_reason="load failed")
    hook.record_status(
        job_id, JobStatus.ERROR_NOTIFICATION_SENT, notification={"subject": "s", "message_id": "m"}
    )
    before = hook.require_job(job_id)

    with pytest.raises(JobAlreadyFinished, match="ERROR_NOTIFICATION_SENT"):
        hook.record_status(job_id, "NEPTUNE_LOAD_COMPLETED", neptune_load_id="late")
    with pytest.raises(JobAlreadyFinished):
        hook.record_status(job_id, "SUCCESS_NOTIFICATION_SENT")
    assert hook.require_job(job_id) == before  # unchanged, updated_at included


def test_unknown_job_and_bad_input_are_clear_errors(table: str) -> None:
    hook = _hook(table)
    with pytest.raises(JobNotFound, match="NOPE_2021-08-01_007"):
        hook.record_status("NOPE_2021-08-01_007", "SCHEDULED")
    with pytest.raises(JobNotFound):
        hook.require_job("NOPE_2021-08-01_007")
    assert hook.get_job("NOPE_2021-08-01_007") is None
    with pytest.raises(ValueError, match="invalid date"):
        hook.get_job("NOPE_2021-13-01_007")
    with pytest.raises(ValueError, match="unknown job status 'DONE'"):
        hook.record_status("NOPE_2021-08-01_007", "DONE")
    job_id = hook.allocate_job("BAD", day=DAY)
    with pytest.raises(ValueError, match="job_status"):
        hook.record_status(job_id, "SCHEDULED", job_status="SUCCESS_NOTIFICATION_SENT")
    with pytest.raises(ValueError, match="'rdfox_stats' cannot be stored"):
        hook.record_status(job_id, "SCHEDULED", rdfox_stats={"rate": float("nan")})
    assert hook.require_job(job_id)["job_status"] == "CREATED"


def test_concurrent_writers_of_different_fields_both_survive(table: str) -> None:
    job_id = _hook(table).allocate_job("CONC", day=DAY)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(**fields: object) -> None:
        hook = _hook(table)
        hook.conn  # noqa: B018
        barrier.wait()
        try:
            for i in range(5):
                hook.record_status(job_id, "SCHEDULED", **{k: f"{v}-{i}" for k, v in fields.items()})
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, kwargs={"pod_name": "pod"}),
        threading.Thread(target=write, kwargs={"worker_node_type": "node"}),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    record = _hook(table).require_job(job_id)
    assert record["pod_name"] == "pod-4" and record["worker_node_type"] == "node-4"


def test_pagination_by_status_over_more_than_a_page(table: str) -> None:
    hook = _hook(table)
    ids = [hook.allocate_job("PAGE", day=DAY) for _ in range(12)]
    for job_id in ids[:11]:
        hook.record_status(job_id, "SCHEDULED")
    items, next_key = hook.list_jobs_page("SCHEDULED", page_size=5)
    assert len(items) == 5 and next_key is not None
    listed = list(hook.iter_jobs_by_status("SCHEDULED", page_size=5))
    assert sorted(i["job_id"] for i in listed) == sorted(ids[:11])
    updated = [i["updated_at"] for i in listed]
    assert updated == sorted(updated, reverse=True)  # newest first
    assert [i["job_id"] for i in hook.iter_jobs_by_status("CREATED")] == [ids[11]]
    assert sorted(i["job_id"] for i in hook.iter_jobs(page_size=4)) == sorted(ids)


def test_one_megabyte_log_goes_to_s3_and_item_stays_small(table: str, bucket: str) -> None:
    hook = _hook(table)
    job_id = hook.allocate_job("BIG", day=DAY, jobspec={"dataset": "BIG", "output_bucket": bucket})
    raw_log = "Adding data in file '/data/x.nt'.\n" * (1024 * 1024 // 34 + 1)
    raw_stats = {"payload": {"errors": {"errorLogs": [{"msg": "x" * 200, "n": i} for i in range(3000)]}}}
    record = hook.record_status(
        job_id, "INFERENCE_FAILED", rdfox_log_text=raw_log, neptune_stats_raw=raw_stats, error_reason="short"
    )
    prefix = f"s3://{bucket}/BIG/{job_id}/metadata/"
    assert record["rdfox_log_text_uri"] == prefix + "rdfox_log_text.json"
    assert record["neptune_stats_raw_uri"] == prefix + "neptune_stats_raw.json"
    assert "neptune_stats_raw" not in record
    assert record["rdfox_log_text"].endswith(f"in full at {prefix}rdfox_log_text.json]")
    assert record["error_reason"] == "short"
    item = boto3.client("dynamodb").get_item(
        TableName=table, Key={"dataset": {"S": "BIG"}, "job_key": {"S": "2021-08-01_000"}}
    )["Item"]
    assert len(json.dumps(item)) < 100 * 1024
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=bucket, Key=f"BIG/{job_id}/metadata/rdfox_log_text.json")["Body"].read()
    assert json.loads(body) == raw_log
    body = s3.get_object(Bucket=bucket, Key=f"BIG/{job_id}/metadata/neptune_stats_raw.json")["Body"].read()
    assert json.loads(body) == raw_stats


def test_large_field_without_known_bucket_is_a_clear_error(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    monkeypatch.delenv("OUTPUT_BUCKET", raising=False)  # no OUTPUT_BUCKET setting either
    clear_settings_cache()
    hook = _hook(table, inline_limit=100)
    job_id = hook.allocate_job("NOBUCKET", day=DAY)
    with pytest.raises(JobMetadataError, match="no output bucket"):
        hook.record_status(job_id, "SCHEDULED", error_reason="y" * 500)
    assert hook.require_job(job_id)["job_status"] == "CREATED"


def test_hook_uses_the_airflow_connection(
    aws_default_connection: str, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `aws_default` (endpoint in the connection extra), with no AWS_ENDPOINT_URL to fall back on."""
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("JOB_TABLE_NAME", f"jobs-conn-{uuid.uuid4().hex[:8]}")
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    clear_settings_cache()
    hook = JobMetadataHook()  # defaults: conn aws_default, table and delimiter from the settings
    assert hook.aws_conn_id == "aws_default"
    hook.create_table_if_missing()
    job_id = hook.allocate_job("CONN", day=DAY)
    assert job_id == "CONN_2021-08-01_000"
    assert hook.table_name.startswith("jobs-conn-")
    assert hook.conn.meta.endpoint_url == aws_endpoint  # from the connection's extra
