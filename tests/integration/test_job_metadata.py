"""JobMetadataHook against moto's server over HTTP: allocation race, transitions and their guard, concurrent
writers, pagination, big fields, and the Airflow plugin that makes the record available by name."""

from __future__ import annotations

import json
import re
import sys
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

from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

# SSM settings left on the shared moto server by other tests (SSM wins over the environment) must not decide
# the table or the output bucket here: every test owns the SSM settings path.
pytestmark = [pytest.mark.compat, pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_settings")]
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
    assert record["revision"] == 0
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
    assert record["revision"] == 10  # every one of the ten writes was applied, none lost


def _run_together(*targets) -> None:
    """Start the callables at the same moment, each with its own hook (client), as separate workers would."""
    barrier = threading.Barrier(len(targets))

    def run(target) -> None:
        barrier.wait()
        target()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)


def test_concurrent_transitions_from_the_same_status_have_one_winner(table: str) -> None:
    """Eight writers all move SCHEDULED -> INFERENCE_COMPLETE with their own statistics: exactly one wins, and
    the record holds the winner's statistics (the others are told, not silently overwritten or lost)."""
    job_id = _hook(table).allocate_job("CAS", day=DAY)
    _hook(table).record_status(job_id, "SCHEDULED")
    won: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def writer(n: int):
        hook = _hook(table)
        hook.conn  # noqa: B018 - client built before the start line

        def write() -> None:
            try:
                hook.record_status(
                    job_id, "INFERENCE_COMPLETE", expected_status="SCHEDULED", rdfox_stats={"writer": n}
                )
            except UnexpectedJobStatus:
                with lock:
                    refused.append(n)
                return
            with lock:
                won.append(n)

        return write

    _run_together(*(writer(n) for n in range(8)))
    assert len(won) == 1 and sorted(won + refused) == list(range(8))
    record = _hook(table).require_job(job_id)
    assert record["job_status"] == "INFERENCE_COMPLETE"
    assert record["rdfox_stats"] == {"writer": won[0]}


def test_late_writers_racing_the_finish_never_move_it_back(table: str) -> None:
    """Late tasks keep writing a Neptune status while the notifier finishes the job: whatever the
    interleaving, the job ends finished, and no late write lands after the finishing one."""
    job_id = _hook(table).allocate_job("RACEFIN", day=DAY)
    _hook(table).record_status(job_id, "NEPTUNE_LOAD_COMPLETED")
    finished_at: list[int] = []
    late_writes: list[int] = []
    refusals: list[int] = []
    lock = threading.Lock()

    def late():
        hook = _hook(table)
        hook.conn  # noqa: B018

        def write() -> None:
            for i in range(6):
                try:
                    rec = hook.record_status(job_id, "NEPTUNE_LOAD_IN_PROGRESS", neptune_load_id=f"late-{i}")
                except JobAlreadyFinished:
                    with lock:
                        refusals.append(i)
                    return
                with lock:
                    late_writes.append(rec["revision"])

        return write

    def finish():
        hook = _hook(table)
        hook.conn  # noqa: B018

        def write() -> None:
            for _ in range(50):  # the late writers may move the status away from what we expect: retry
                try:
                    rec = hook.record_status(
                        job_id,
                        "SUCCESS_NOTIFICATION_SENT",
                        allowed_from=["NEPTUNE_LOAD_COMPLETED", "NEPTUNE_LOAD_IN_PROGRESS"],
                    )
                except UnexpectedJobStatus:
                    continue
                finished_at.append(rec["revision"])
                return

        return write

    _run_together(late(), late(), late(), finish())
    (finished,) = finished_at
    record = _hook(table).require_job(job_id)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT"
    # The revision orders the writes as DynamoDB applied them: the finishing write was the last one.
    assert record["revision"] == finished
    assert all(r < finished for r in late_writes)
    assert len(late_writes) + len(refusals) >= 3  # every late writer ran until refused or done


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


def _item(table: str, dataset: str, job_key: str) -> dict:
    """The raw DynamoDB item, as the server stores it."""
    return boto3.client("dynamodb").get_item(
        TableName=table, Key={"dataset": {"S": dataset}, "job_key": {"S": job_key}}, ConsistentRead=True
    )["Item"]


def _s3_json(uri: str) -> object:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _object_count(bucket: str) -> int:
    return boto3.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount", 0)


def test_one_megabyte_log_goes_to_s3_and_item_stays_small(table: str, bucket: str) -> None:
    hook = _hook(table)
    job_id = hook.allocate_job("BIG", day=DAY, jobspec={"dataset": "BIG", "output_bucket": bucket})
    raw_log = "Adding data in file '/data/x.nt'.\n" * (1024 * 1024 // 34 + 1)
    raw_stats = {"payload": {"errors": {"errorLogs": [{"msg": "x" * 200, "n": i} for i in range(3000)]}}}
    record = hook.record_status(
        job_id, "INFERENCE_FAILED", rdfox_log_text=raw_log, neptune_stats_raw=raw_stats, error_reason="short"
    )
    # Next to the job's outputs, one new object per write.
    prefix = re.escape(f"s3://{bucket}/BIG/{job_id}/metadata/")
    assert re.fullmatch(prefix + r"rdfox_log_text-\d{8}T\d{12}Z\.json", record["rdfox_log_text_uri"])
    assert re.fullmatch(prefix + r"neptune_stats_raw-\d{8}T\d{12}Z\.json", record["neptune_stats_raw_uri"])
    assert "neptune_stats_raw" not in record
    assert record["rdfox_log_text"].startswith(raw_log[:1000])  # a readable start stays in the record
    assert record["rdfox_log_text"].endswith(f"in full at {record['rdfox_log_text_uri']}]")
    assert record["error_reason"] == "short"
    assert len(json.dumps(_item(table, "BIG", "2021-08-01_000"))) < 100 * 1024
    assert _s3_json(record["rdfox_log_text_uri"]) == raw_log
    assert _s3_json(record["neptune_stats_raw_uri"]) == raw_stats


def test_many_fields_in_one_call_stay_under_the_item_limit(table: str, bucket: str) -> None:
    """Forty fields of 15 KB (600 KB in all, each under the per-field limit): the largest go to S3."""
    hook = _hook(table, output_bucket=bucket)
    job_id = hook.allocate_job("WIDE", day=DAY)
    fields = {f"extra_{i:02d}": {"i": i, "text": chr(65 + i % 26) * 15_000} for i in range(40)}
    record = hook.record_status(job_id, "SCHEDULED", **fields)
    item = _item(table, "WIDE", "2021-08-01_000")
    assert len(json.dumps(item)) < 400 * 1024
    in_s3 = [name for name in fields if f"{name}_uri" in record]
    assert in_s3 and len(in_s3) < len(fields)  # some inline, the rest in S3: nothing lost
    for name, value in fields.items():
        assert (_s3_json(record[f"{name}_uri"]) if name in in_s3 else record[name]) == value


def test_fields_accumulated_over_many_calls_stay_under_the_item_limit(table: str, bucket: str) -> None:
    """Each call adds 60 KB inline; after a few the item would pass 400 KB: later fields move to S3."""
    hook = _hook(table, output_bucket=bucket)
    job_id = hook.allocate_job("GROW", day=DAY)
    written: dict[str, object] = {}
    for call in range(10):
        fields = {f"f{call}_{i}": f"{call}-{i}:" + "y" * 15_000 for i in range(4)}
        hook.record_status(job_id, "SCHEDULED", **fields)
        written.update(fields)
    record = hook.require_job(job_id)
    assert len(json.dumps(_item(table, "GROW", "2021-08-01_000"))) < 400 * 1024
    moved = [name for name in written if f"{name}_uri" in record]
    assert moved, "600 KB of fields cannot all be inline"
    for name, value in written.items():
        assert (_s3_json(record[f"{name}_uri"]) if name in moved else record[name]) == value


def test_refused_large_write_changes_nothing_in_s3(table: str, bucket: str) -> None:
    """A late task's big field for a finished job: refused before anything is written to S3."""
    hook = _hook(table, output_bucket=bucket)
    job_id = hook.allocate_job("LATE", day=DAY)
    first = hook.record_status(job_id, "INFERENCE_FAILED", error_reason="first " * 10_000)
    hook.record_status(job_id, "ERROR_NOTIFICATION_SENT")
    objects = _object_count(bucket)
    with pytest.raises(JobAlreadyFinished):
        hook.record_status(job_id, "INFERENCE_FAILED", error_reason="late " * 10_000)
    assert _object_count(bucket) == objects
    record = hook.require_job(job_id)
    assert record["error_reason_uri"] == first["error_reason_uri"]
    assert _s3_json(record["error_reason_uri"]) == "first " * 10_000


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


def test_plugin_registers_once_and_its_macro_reads_the_record(
    aws_default_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow loads the plugin from the plugins folder once, without importing the package's other modules
    under bare names; `{{ macros.rdfox_pipeline.job_record(job_id) }}` reads the job through aws_default."""
    from airflow import plugins_manager
    from rdfox_pipeline.compat import loaded_plugins

    table = f"jobs-macro-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("JOB_TABLE_NAME", table)
    hook = JobMetadataHook()
    hook.create_table_if_missing()
    job_id = hook.allocate_job("MACRO", day=DAY)

    plugins, errors = loaded_plugins()
    assert errors == {}
    (plugin,) = [p for p in plugins if p.name == "rdfox_pipeline"]
    assert str(plugin.source).endswith("rdfox_pipeline/plugin.py")
    for bare in ("job_metadata", "job_table", "render", "humanize", "main"):  # .airflowignore keeps them out
        module = sys.modules.get(bare)
        assert module is None or "rdfox_pipeline" not in str(getattr(module, "__file__", "")), bare

    plugins_manager.integrate_macros_plugins()
    from airflow.sdk.execution_time import macros

    record = macros.rdfox_pipeline.job_record(job_id)
    assert record["job_id"] == job_id and record["job_status"] == "CREATED"
    with pytest.raises(JobNotFound):
        macros.rdfox_pipeline.job_record("MACRO_2021-08-01_999")
