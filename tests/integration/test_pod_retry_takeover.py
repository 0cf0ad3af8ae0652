"""A retry of ``reason`` takes up its job's finished pod instead of running RDFox again (issue 13, #3).

In-process, as a worker runs the task: the operator's ``execute()`` against the Kubernetes emulator (pods
over HTTP) and moto (S3, DynamoDB); the first try is abandoned at the point the scenario names, then a fresh
operator (as the retry builds it from the DAG) runs ``execute()`` with try_number 2. The emulator's audit
log counts the pods ever created.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest

from tests.conftest import TEST_REGION
from tests.integration.k8s_emulator_fixtures import K8sEmulator

pytestmark = [pytest.mark.timeout(300)]

FILES = {
    "rules/chains.dlog": "[?x, <urn:p>, ?y] :- [?y, <urn:p>, ?x] .\n",
    "part-0001.nt": "<urn:a> <urn:p> <urn:b> .\n",
    "extract1.rq": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }\n",
}
BAD_DATA = {"zz-bad.nt": "this is not N-Triples\n"}


@dataclass
class TI:
    """What the pod operator uses of ``context["ti"]`` on a worker."""

    try_number: int
    dag_id: str = "rdfox_neptune_pipeline"
    task_id: str = "reason"
    map_index: int = -1
    start_date: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    xcoms: dict[str, Any] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("tests.pod_retry"))

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@dataclass
class Job:
    job_id: str
    dataset: str
    out_bucket: str
    registration: dict[str, Any]
    run_id: str

    def context(self, try_number: int) -> dict[str, Any]:
        return {"ti": TI(try_number), "run_id": self.run_id, "dag": object()}


@pytest.fixture
def world(
    k8s_emulator: K8sEmulator, aws_default_connection: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    from rdfox_pipeline.aws.job_table import JobTable
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    table_name = f"jobs-{uuid.uuid4().hex[:8]}"
    table = JobTable(boto3.client("dynamodb"), table_name=table_name, delimiter="_")
    table.create_table_if_missing()
    monkeypatch.setenv("JOB_TABLE_NAME", table_name)
    monkeypatch.delenv("CLUSTER_NAME", raising=False)
    # The connection names the kubeconfig; KUBECONFIG as well would give the trigger two configurations.
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("RDFOX_PIPELINE_RESUME_FLOOR_SECONDS", "0")  # the trigger runs in this process
    _clear_ssm_settings()
    clear_settings_cache()
    return {"table": table, "emulator": k8s_emulator}


def _clear_ssm_settings() -> None:
    from rdfox_pipeline.domain.settings import SSM_PATH

    ssm = boto3.client("ssm", region_name=TEST_REGION)
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=SSM_PATH, Recursive=True)
    names = [p["Name"] for page in pages for p in page["Parameters"]]
    for start in range(0, len(names), 10):
        ssm.delete_parameters(Names=names[start : start + 10])


def _job(world: dict[str, Any], files: dict[str, str]) -> Job:
    s3 = boto3.client("s3")
    dataset = "RT" + uuid.uuid4().hex[:8].upper()
    buckets = []
    for prefix in ("retry-in", "retry-out"):
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
        buckets.append(name)
    for key, body in files.items():
        s3.put_object(Bucket=buckets[0], Key=f"{dataset}/{key}", Body=body.encode())
    spec = {"dataset": dataset, "job_bucket": buckets[0], "output_bucket": buckets[1],
            "resources": {"cores": 1, "memory": "1Gi"}}  # fmt: skip
    job_id = world["table"].allocate_job(dataset, day=date(2024, 5, 1), jobspec=spec)
    log_uri = f"s3://{buckets[1]}/{dataset}/{job_id}/rdfox.log"
    registration = {"job_id": job_id, "jobspec": spec, "rdfox_log_uri": log_uri}
    return Job(job_id, dataset, buckets[1], registration, f"manual__{uuid.uuid4().hex[:10]}")


def _operator(job: Job) -> Any:
    from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator

    return RdfoxPodOperator(task_id="reason", registration=job.registration, poll_interval=0.2)


def _created_pods(emulator: K8sEmulator, job: Job) -> list[str]:
    prefix = job.dataset.lower()
    return [e["name"] for e in emulator.audit() if e["method"] == "POST" and e["code"] == 201
            and (e.get("name") or "").startswith(prefix)]  # fmt: skip


def _defer(job: Job, try_number: int = 1) -> Any:
    """The first try up to its deferral: the pod is created, the task hands its wait to the trigger."""
    from rdfox_pipeline.compat import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        _operator(job).execute(job.context(try_number))
    return deferred.value


def _run_trigger(deferred: Any) -> dict[str, Any]:
    """The trigger as the triggerer runs it, to its first event."""

    async def first_event() -> dict[str, Any]:
        async for event in deferred.trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first_event())


def _wait_for_phase(emulator: K8sEmulator, name: str, phases: tuple[str, ...], timeout: float = 120) -> str:
    api, deadline = emulator.client(), time.monotonic() + timeout
    while True:
        phase = api.read_namespaced_pod(name, "rdfox").status.phase
        if phase in phases or time.monotonic() > deadline:
            return phase
        time.sleep(0.2)


def _s3_keys(job: Job) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=job.out_bucket, Prefix=f"{job.dataset}/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_worker_lost_after_the_trigger_fired_the_retry_takes_up_the_succeeded_pod(world) -> None:
    emulator, table = world["emulator"], world["table"]
    job = _job(world, FILES)
    event = _run_trigger(_defer(job))
    assert event["status"] == "success"
    # The worker that would have run trigger_reentry is lost: the pod is Succeeded, the task not done.
    [pod] = _created_pods(emulator, job)
    assert table.require_job(job.job_id)["job_status"] == "SCHEDULED"

    context = job.context(2)
    _operator(job).execute(context)  # the retry: succeeds, no deferral (the pod is over)

    assert _created_pods(emulator, job) == [pod]
    assert context["ti"].xcoms["pod_name"] == pod
    record = table.require_job(job.job_id)
    assert record["pod_name"] == pod
    assert record["pod_succeeded"] == pod
    assert f"{job.dataset}/{job.job_id}/rdfox.log" in _s3_keys(job)
    assert f"{job.dataset}/{job.job_id}/data/extract1.rq.nt" in _s3_keys(job)

    # The retry deleted the pod (delete_succeeded_pod); a third try -- that retry's worker lost after the
    # deletion -- knows the outcome from the record and the published rdfox.log, and starts nothing.
    _operator(job).execute(job.context(3))
    assert _created_pods(emulator, job) == [pod]


def test_trigger_failed_after_the_pod_ended_the_retry_takes_up_the_succeeded_pod(world) -> None:
    emulator, table = world["emulator"], world["table"]
    job = _job(world, FILES)
    _defer(job)
    [pod] = _created_pods(emulator, job)
    # The trigger failed (no event at all): the task fails and is retried while the pod runs to its end.
    assert _wait_for_phase(emulator, pod, ("Succeeded", "Failed")) == "Succeeded"

    _operator(job).execute(job.context(2))

    assert _created_pods(emulator, job) == [pod]
    assert table.require_job(job.job_id)["pod_succeeded"] == pod


def test_retry_after_the_pod_failed_records_inference_failed_and_starts_nothing(world) -> None:
    from rdfox_pipeline.compat import AirflowException

    emulator, table = world["emulator"], world["table"]
    job = _job(world, {**FILES, **BAD_DATA})
    event = _run_trigger(_defer(job))
    assert event["status"] == "failed"
    [pod] = _created_pods(emulator, job)

    with pytest.raises(AirflowException):
        _operator(job).execute(job.context(2))

    assert _created_pods(emulator, job) == [pod]
    record = table.require_job(job.job_id)
    assert record["job_status"] == "INFERENCE_FAILED"
    assert "container base exited with status 1" in record["error_reason"]
    assert "rdfox.log" in record["error_reason"]


def test_retry_after_the_first_try_finished_the_pod_but_not_the_task(world) -> None:
    """The first try ran its whole re-entry (the pod deleted) and its worker was lost before success."""
    emulator, table = world["emulator"], world["table"]
    job = _job(world, FILES)
    deferred = _defer(job)
    event = _run_trigger(deferred)
    first = _operator(job)
    getattr(first, deferred.method_name)(job.context(1), event)
    [pod] = _created_pods(emulator, job)
    assert [e for e in emulator.audit() if e["method"] == "DELETE" and pod in e["path"]]

    _operator(job).execute(job.context(2))

    assert _created_pods(emulator, job) == [pod]
    assert table.require_job(job.job_id)["pod_succeeded"] == pod
