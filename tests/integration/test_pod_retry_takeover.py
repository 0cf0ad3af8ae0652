"""A retry of ``reason`` takes up its job's finished pod instead of running RDFox again (issue 13, #3).

In-process, as a worker runs the task: the operator's ``execute()`` against the Kubernetes emulator (pods
over HTTP) and moto (S3, DynamoDB); the first try is abandoned at the point the scenario names, then a fresh
operator (as the retry builds it from the DAG) runs ``execute()`` with try_number 2. The emulator's audit
log counts the pods ever created.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.k8s_emulator_fixtures import K8sEmulator
from tests.integration.pod_job_fixtures import BAD_DATA, FILES, Job, make_job

pytestmark = [pytest.mark.compat, pytest.mark.timeout(300)]
LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"


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


@pytest.mark.slow  # a pod run: ~20 s
def test_worker_lost_after_the_trigger_fired_the_retry_takes_up_the_succeeded_pod(pod_world) -> None:
    emulator, table = pod_world["emulator"], pod_world["table"]
    job = make_job(pod_world, FILES)
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


@pytest.mark.slow  # a pod run: ~20 s
def test_trigger_failed_after_the_pod_ended_the_retry_takes_up_the_succeeded_pod(pod_world) -> None:
    emulator, table = pod_world["emulator"], pod_world["table"]
    job = make_job(pod_world, FILES)
    _defer(job)
    [pod] = _created_pods(emulator, job)
    # The trigger failed (no event at all): the task fails and is retried while the pod runs to its end.
    assert _wait_for_phase(emulator, pod, ("Succeeded", "Failed")) == "Succeeded"

    _operator(job).execute(job.context(2))

    assert _created_pods(emulator, job) == [pod]
    assert table.require_job(job.job_id)["pod_succeeded"] == pod


@pytest.mark.slow  # a pod run: ~20 s
def test_retry_after_the_pod_failed_records_inference_failed_and_starts_nothing(pod_world) -> None:
    from rdfox_pipeline.compat import AirflowException

    emulator, table = pod_world["emulator"], pod_world["table"]
    job = make_job(pod_world, {**FILES, **BAD_DATA})
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


@pytest.mark.slow  # a pod run: ~20 s
def test_retry_after_the_first_try_finished_the_pod_but_not_the_task(pod_world) -> None:
    """The first try ran its whole re-entry (the pod deleted) and its worker was lost before success."""
    emulator, table = pod_world["emulator"], pod_world["table"]
    job = make_job(pod_world, FILES)
    deferred = _defer(job)
    event = _run_trigger(deferred)
    first = _operator(job)
    getattr(first, deferred.method_name)(job.context(1), event)
    [pod] = _created_pods(emulator, job)
    assert [e for e in emulator.audit() if e["method"] == "DELETE" and pod in e["path"]]

    _operator(job).execute(job.context(2))

    assert _created_pods(emulator, job) == [pod]
    assert table.require_job(job.job_id)["pod_succeeded"] == pod


def _pod_gone(pod_world: dict[str, Any], log: str | None, **record: Any) -> Job:
    """A job whose earlier pod is gone: its record as that pod's tries left it, its rdfox.log or none."""
    job = make_job(pod_world, FILES)
    pod_world["table"].record_status(job.job_id, "SCHEDULED", pod_name="gone-pod", **record)
    if log is not None:
        bucket, _, key = job.registration["rdfox_log_uri"][len("s3://") :].partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=(LOGS / log).read_bytes())
    return job


def test_pod_gone_with_a_failed_published_log_fails_the_job_from_the_log(pod_world) -> None:
    from rdfox_pipeline.compat import AirflowException

    job = _pod_gone(pod_world, "rdfox7-error.log")
    with pytest.raises(AirflowException, match=r"pod gone-pod is gone; its published rdfox\.log failed"):
        _operator(job).execute(job.context(2))
    assert _created_pods(pod_world["emulator"], job) == []
    record = pod_world["table"].require_job(job.job_id)
    assert record["job_status"] == "INFERENCE_FAILED"
    reason = "pod gone-pod is gone; its published rdfox.log failed; rdfox.log: "
    assert record["error_reason"].startswith(reason)


def test_pod_recorded_succeeded_whose_log_was_removed_is_refused_not_rerun(pod_world) -> None:
    from rdfox_pipeline.compat import AirflowFailException

    job = _pod_gone(pod_world, None, pod_succeeded="gone-pod")
    refused = r"pod gone-pod succeeded, but its published s3://\S+ is gone"
    with pytest.raises(AirflowFailException, match=refused):
        _operator(job).execute(job.context(2))
    assert _created_pods(pod_world["emulator"], job) == []


def test_pod_gone_before_it_published_anything_gets_a_new_pod(pod_world) -> None:
    """The earlier pod never got as far as its log (deleted while it ran): the retry's is the first run."""
    job = _pod_gone(pod_world, None)
    deferred = _defer(job, try_number=2)
    try:
        assert len(_created_pods(pod_world["emulator"], job)) == 1
    finally:
        kwargs = deferred.trigger.serialize()[1]
        pod_world["emulator"].client().delete_namespaced_pod(kwargs["pod_name"], kwargs["pod_namespace"])
