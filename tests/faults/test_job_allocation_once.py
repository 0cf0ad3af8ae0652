"""Scenario 11 of issue 13: one job id per run, whatever is lost on the way (moto's server, in process).

- a DynamoDB reply lost after the write landed: botocore's own retry of the conditional put must not
  allocate NNN+1 (the lost reply is made by a ``before-send`` hook that sends the request to moto itself and
  then raises a read timeout, so the write is applied and botocore retries as it would on the wire);
- a worker dying after allocation: the task's next try (or a clear) takes up the same CREATED record;
- an orphan whose run is gone: the dataset's next registration marks it SCHEDULE_FAILED with a reason.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from tests.faults.conftest import AwsWorld


def _upload(world: AwsWorld, dataset: str, name: str = "job") -> str:
    s3 = world.client("s3")
    s3.put_object(Bucket=world.input_bucket, Key=f"{dataset}/part-0001.nt", Body=b"<a:s> <a:p> <a:o> .\n")
    spec = {"job_key": dataset, "job_bucket": world.input_bucket, "output_bucket": world.output_bucket}
    key = f"{dataset}/{name}.rdfoxjob.json"
    s3.put_object(Bucket=world.input_bucket, Key=key, Body=json.dumps(spec).encode())
    return f"s3://{world.input_bucket}/{key}"


class LoseReplies:
    """``before-send`` handler: the first ``count`` matching requests reach moto, their replies are lost."""

    def __init__(self, operations: tuple[str, ...], count: int = 1) -> None:
        self.operations = operations
        self.left = count
        self.applied = 0

    def __call__(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        if self.left <= 0 or target.rpartition(".")[2] not in self.operations:
            return None
        self.left -= 1
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        forwarded = urllib.request.Request(request.url, data=request.body, headers=headers, method="POST")
        with urllib.request.urlopen(forwarded, timeout=10) as reply:  # the test's own moto server (loopback)
            reply.read()
        self.applied += 1
        raise ReadTimeoutError(endpoint_url=request.url)


def _operator(monkeypatch: pytest.MonkeyPatch, on_hook: Any = None) -> Any:
    from rdfox_pipeline.operators.job_registration import RegisterJobOperator

    operator = RegisterJobOperator(task_id="register_job")
    if on_hook is not None:
        original = RegisterJobOperator._hook

        def hook_with_fault(self: Any, settings: Any) -> Any:
            hook = original(self, settings)
            on_hook(hook)
            return hook

        monkeypatch.setattr(RegisterJobOperator, "_hook", hook_with_fault)
    return operator


def _records_of_run(world: AwsWorld, dataset: str, run_id: str) -> list[dict[str, Any]]:
    return [r for r in world.jobs_of(dataset) if r.get("dag_run_id") == run_id]


def test_lost_put_reply_does_not_allocate_a_second_id(
    aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = "LOSTREPLY"
    uri = _upload(aws_world, dataset)
    lose = LoseReplies(("PutItem", "TransactWriteItems"))
    operator = _operator(monkeypatch, lambda hook: hook.conn.meta.events.register("before-send", lose))
    context = aws_world.context(jobspec_uri=uri)
    registration = operator.execute(context)
    assert lose.applied == 1  # the fault happened: the first write landed and its reply was lost
    records = _records_of_run(aws_world, dataset, context["run_id"])
    assert [r["job_id"] for r in records] == [registration["job_id"]]
    assert registration["job_id"].endswith("_000")
    assert records[0]["job_status"] == "CREATED"


def test_lost_put_reply_on_an_invalid_jobspec_records_one_failure(
    aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.compat import AirflowFailException

    lose = LoseReplies(("PutItem", "TransactWriteItems"))
    operator = _operator(monkeypatch, lambda hook: hook.conn.meta.events.register("before-send", lose))
    context = aws_world.context(jobspec={"job_key": "LOSTBAD", "requested_cores": "many"})
    with pytest.raises(AirflowFailException):  # invalid input: failing again would change nothing
        operator.execute(context)
    assert lose.applied == 1
    records = _records_of_run(aws_world, "LOSTBAD", context["run_id"])
    assert len(records) == 1 and records[0]["job_status"] == "SCHEDULE_FAILED"
    assert context["ti"].xcoms["failed_job_id"] == records[0]["job_id"]


class WorkerDied(BaseException):
    """Stands for the worker process dying: nothing after it runs (not an Exception, nothing catches it)."""


def test_retry_after_a_worker_died_takes_up_the_same_id(
    aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    dataset = "DIEDTRY"
    uri = _upload(aws_world, dataset)
    context = aws_world.context(jobspec_uri=uri)

    def die_after_allocation(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise WorkerDied

    with monkeypatch.context() as patch:
        patch.setattr(JobMetadataHook, "record_status", die_after_allocation)
        with pytest.raises(WorkerDied):
            _operator(monkeypatch).execute(context)
    orphan = _records_of_run(aws_world, dataset, context["run_id"])
    assert len(orphan) == 1 and orphan[0]["job_status"] == "CREATED"

    retry = aws_world.context(run_id=context["run_id"], jobspec_uri=uri)
    retry["ti"].try_number = 2
    registration = _operator(monkeypatch).execute(retry)
    assert registration["job_id"] == orphan[0]["job_id"]
    records = _records_of_run(aws_world, dataset, context["run_id"])
    assert len(records) == 1 and records[0]["output_prefix"] == registration["output_prefix"]


def test_another_run_gets_its_own_id(aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = "TWORUNS"
    uri = _upload(aws_world, dataset)
    first = _operator(monkeypatch).execute(aws_world.context(jobspec_uri=uri))
    second = _operator(monkeypatch).execute(aws_world.context(jobspec_uri=uri))
    assert first["job_id"] != second["job_id"]


def test_register_job_is_retried_now_that_it_is_idempotent() -> None:
    from rdfox_pipeline.operators.job_registration import RegisterJobOperator

    assert RegisterJobOperator(task_id="register_job").retries >= 1


def _age(world: AwsWorld, job_id: str, dataset: str, hours: float) -> None:
    """Make a record look as if its last write was ``hours`` ago (a run that died long since)."""
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    hook = JobMetadataHook(aws_conn_id="aws_default")
    then = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="microseconds")
    world.client("dynamodb").update_item(
        TableName=world.resources["job_table"],
        Key={"dataset": {"S": dataset}, "job_key": {"S": hook.parse_job_id(job_id).sort_key(hook.delimiter)}},
        UpdateExpression="SET updated_at = :t, created_at = :t",
        ExpressionAttributeValues={":t": {"S": then}},
    )


def test_orphan_of_a_gone_run_is_marked_failed_by_the_next_registration(
    aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    dataset = "ORPHANS"
    uri = _upload(aws_world, dataset)
    hook = JobMetadataHook(aws_conn_id="aws_default")
    old = hook.allocate_job(dataset, dag_run_id="manual__long-gone")
    recent = hook.allocate_job(dataset, dag_run_id="manual__still-running")
    _age(aws_world, old, dataset, hours=8 * 24)

    registration = _operator(monkeypatch).execute(aws_world.context(jobspec_uri=uri))

    swept = aws_world.job_record(old)
    assert swept is not None and swept["job_status"] == "SCHEDULE_FAILED"
    assert "manual__long-gone" in swept["error_reason"] and "orphan" in swept["error_reason"]
    assert registration["job_id"] in swept["error_reason"]  # who found it
    untouched = aws_world.job_record(recent)
    assert untouched is not None and untouched["job_status"] == "CREATED"


def test_jobs_orphans_cli_lists_and_marks_them(
    aws_world: AwsWorld, capsys: pytest.CaptureFixture[str], cli_stdout_only: None
) -> None:
    from rdfox_pipeline.cli.main import main
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    dataset = "CLIORPHAN"
    hook = JobMetadataHook(aws_conn_id="aws_default")
    old = hook.allocate_job(dataset, dag_run_id="manual__deleted-run")
    recent = hook.allocate_job(dataset, dag_run_id="manual__alive")
    _age(aws_world, old, dataset, hours=8 * 24)
    capsys.readouterr()

    assert main(["jobs", "orphans", "--dataset", dataset]) == 0
    # Airflow's structlog (imported by this process's other tests) also writes here: keep the JSON lines.
    out = capsys.readouterr().out.splitlines()
    listed = [json.loads(line) for line in out if line.startswith("{")]
    assert [r["job_id"] for r in listed] == [old] and listed[0]["dag_run_id"] == "manual__deleted-run"
    record = aws_world.job_record(old)
    assert record is not None and record["job_status"] == "CREATED"  # listing changes nothing

    assert main(["jobs", "orphans", "--dataset", dataset, "--mark-failed"]) == 0
    assert "marked 1 SCHEDULE_FAILED" in capsys.readouterr().err
    record = aws_world.job_record(old)
    assert record is not None and record["job_status"] == "SCHEDULE_FAILED"
    assert record["error_reason"].startswith(f"orphan: job {old} was allocated by dag run manual__deleted-")
    assert "rdfox-pipeline jobs orphans" in record["error_reason"]
    still = aws_world.job_record(recent)
    assert still is not None and still["job_status"] == "CREATED"
