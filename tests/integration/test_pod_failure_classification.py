"""Issue 13, scenario 8: only the pod's own failure is INFERENCE_FAILED; the task's errors are retried.

``reason`` in-process, as a worker runs it (execute, the trigger, trigger_reentry), against the Kubernetes
emulator (its pods really run prepare, the reasoner and publish) with S3 and DynamoDB on moto's server:

* the Kubernetes API unreachable before the pod exists: the task fails, the job stays CREATED, the retry
  creates the pod;
* the SCHEDULED write throttled after the pod was created: the job stays CREATED, the retry reattaches to
  the same pod (one pod created);
* the node type write failing after the pod succeeded: the task succeeds, the job keeps SCHEDULED.

DynamoDB's throttling is injected into the job table client (moto cannot throttle); the rest is real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from rdfox_pipeline.compat import TaskDeferred

from tests.conftest import TEST_REGION, free_port
from tests.integration.k8s_emulator_fixtures import K8sEmulator
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("no_resume_floor")]

FILES = {
    "rules/chains.dlog": "[?x, <urn:p>, ?y] :- [?y, <urn:p>, ?x] .\n",
    "part-0001.nt": "<urn:a> <urn:p> <urn:b> .\n",
    "extract1.rq": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }\n",
}


@dataclass
class TI:
    run_id: str
    try_number: int = 1
    dag_id: str = "rdfox_neptune_pipeline"
    task_id: str = "reason"
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@dataclass
class Job:
    job_id: str
    registration: dict[str, Any]
    table: Any
    run_id: str

    def context(self, try_number: int) -> dict[str, Any]:
        ti = TI(self.run_id, try_number)
        return {"ti": ti, "run_id": self.run_id, "dag": SimpleNamespace(dag_id=ti.dag_id, parent_dag=None)}

    @property
    def record(self) -> dict[str, Any]:
        return self.table.require_job(self.job_id)


@pytest.fixture
def job(k8s_emulator: K8sEmulator, aws_default_connection: str, isolated_settings: Any,
        monkeypatch: pytest.MonkeyPatch) -> Job:  # fmt: skip
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    s3 = boto3.client("s3")
    dataset = "DS" + uuid.uuid4().hex[:8].upper()
    buckets = {}
    for role in ("in", "out"):
        buckets[role] = f"pod-{role}-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=buckets[role], CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
    for key, body in FILES.items():
        s3.put_object(Bucket=buckets["in"], Key=f"{dataset}/{key}", Body=body.encode())
    table = f"jobs-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("JOB_TABLE_NAME", table)
    monkeypatch.delenv("KUBECONFIG")  # the connection alone, as on a worker (the trigger refuses both)
    hook = JobMetadataHook(aws_conn_id="aws_default", table_name=table)
    hook.create_table_if_missing()
    spec = {"dataset": dataset, "job_bucket": buckets["in"], "output_bucket": buckets["out"],
            "resources": {"cores": 1, "memory": "1Gi"}}  # fmt: skip
    job_id = hook.allocate_job(dataset, jobspec=spec)
    log_uri = f"s3://{buckets['out']}/{dataset}/{job_id}/rdfox.log"
    registration = {"job_id": job_id, "jobspec": spec, "rdfox_log_uri": log_uri}
    return Job(job_id, registration, hook, f"manual__{uuid.uuid4().hex[:10]}")


def _operator(job: Job) -> Any:
    from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator

    return RdfoxPodOperator(
        task_id="reason", registration=job.registration, poll_interval=1, startup_check_interval_seconds=1
    )


def _created_pods(emulator: K8sEmulator, job: Job) -> list[str]:
    prefix = job.registration["jobspec"]["dataset"].lower()
    created = [e for e in emulator.audit() if e["method"] == "POST" and e["code"] == 201]
    return [e["name"] for e in created if (e.get("name") or "").startswith(prefix)]


def _throttle_update(monkeypatch: pytest.MonkeyPatch, field_name: str) -> list[str]:
    """The job table's UpdateItem that writes ``field_name`` is throttled, once (ProvisionedThroughput)."""
    from botocore.exceptions import ClientError
    from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator

    refused: list[str] = []
    original = RdfoxPodOperator._hook

    def refuse(params: dict, **_: Any) -> None:
        names = (params.get("ExpressionAttributeNames") or {}).values()
        if field_name in names and not refused:
            refused.append(field_name)
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "injected throttling"}
            raise ClientError({"Error": error}, "UpdateItem")

    def hook_with_fault(self: Any) -> Any:
        hook = original(self)
        hook.conn.meta.events.register("before-parameter-build.dynamodb.UpdateItem", refuse)
        return hook

    monkeypatch.setattr(RdfoxPodOperator, "_hook", hook_with_fault)
    return refused


def _delete_pods(emulator: K8sEmulator, names: list[str]) -> None:
    for name in set(names):
        with contextlib.suppress(Exception):  # already gone: nothing to tidy
            emulator.client().delete_namespaced_pod(name, "rdfox")


@pytest.fixture
def no_kubernetes_api_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider's Kubernetes API retries (5 attempts, 1 to 15 s apart: 15 s on a dead API) without the
    waits: the attempts still happen, the test does not sleep through them. The product's policy is the
    provider's default ([workers] api_retries / api_retry_wait_*), unchanged."""
    import tenacity
    from airflow.providers.cncf.kubernetes import kubernetes_helper_functions

    monkeypatch.setattr(kubernetes_helper_functions, "_default_wait", tenacity.wait_none())


@pytest.mark.usefixtures("no_kubernetes_api_backoff")
def test_kubernetes_api_unreachable_before_the_pod_exists_is_retried(
    job: Job, k8s_emulator: K8sEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dead = tmp_path / "kubeconfig-dead.yaml"
    server = k8s_emulator.url.replace("http://", "")
    dead.write_text(k8s_emulator.kubeconfig.read_text().replace(server, f"127.0.0.1:{free_port()}"))
    dead_conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(dead)}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(dead_conn))
    with pytest.raises(Exception) as caught:
        _operator(job).execute(job.context(1))
    assert not isinstance(caught.value, TaskDeferred)
    assert job.record["job_status"] == "CREATED" and "error_reason" not in job.record
    assert _created_pods(k8s_emulator, job) == []

    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", k8s_emulator.connection_json())
    try:
        with pytest.raises(TaskDeferred):  # the retry goes on: the pod is created, the task defers
            _operator(job).execute(job.context(2))
        assert job.record["job_status"] == "SCHEDULED"
        assert len(_created_pods(k8s_emulator, job)) == 1
    finally:
        _delete_pods(k8s_emulator, _created_pods(k8s_emulator, job))


def test_scheduled_write_throttled_after_creation_is_retried_on_the_same_pod(
    job: Job, k8s_emulator: K8sEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = _throttle_update(monkeypatch, "pod_name")
    # A pod that is still reasoning when the retry comes: on a busy machine the sample pod could finish
    # between the two tries, and the retry would then take up a finished pod instead of reattaching.
    job.registration["jobspec"]["images"] = {"rdfox": "example.test/reasons-for-an-hour:1"}
    try:
        with pytest.raises(Exception, match="injected throttling"):
            _operator(job).execute(job.context(1))
        assert refused == ["pod_name"]
        assert job.record["job_status"] == "CREATED" and "error_reason" not in job.record
        [pod] = _created_pods(k8s_emulator, job)

        with pytest.raises(TaskDeferred):  # the retry reattaches to the running pod
            _operator(job).execute(job.context(2))
        record = job.record
        assert record["job_status"] == "SCHEDULED" and record["pod_name"] == pod
        assert _created_pods(k8s_emulator, job) == [pod]
    finally:
        _delete_pods(k8s_emulator, _created_pods(k8s_emulator, job))


def _run_trigger(trigger: Any) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_record_write_failing_after_the_pod_succeeded_does_not_fail_the_job(
    job: Job, k8s_emulator: K8sEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = _throttle_update(monkeypatch, "worker_node_type")
    op = _operator(job)
    context = job.context(1)
    try:
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        event = _run_trigger(deferred.value.trigger)
        op.trigger_reentry(context, event)  # the pod succeeded: the task succeeds
        assert refused == ["worker_node_type"]
        record = job.record
        assert record["job_status"] == "SCHEDULED" and "error_reason" not in record
        assert len(_created_pods(k8s_emulator, job)) == 1
        out = job.registration["jobspec"]["output_bucket"]
        key = job.registration["rdfox_log_uri"].split(out + "/", 1)[1]
        assert boto3.client("s3").head_object(Bucket=out, Key=key)["ContentLength"] > 0  # published
    finally:
        _delete_pods(k8s_emulator, _created_pods(k8s_emulator, job))


@pytest.mark.parametrize(
    ("allowlist", "local_stack", "named"),
    [
        # The allow-list changed after register_job checked the jobspec (a queued run, a retry's first pod).
        ("123456789012.dkr.ecr.eu-west-2.amazonaws.com/", "true", "is not under an allowed registry"),
        # A deployment that lost its allow-list: no pod starts with any registry allowed.
        ("", "false", "is empty, so any registry could serve"),
    ],
    ids=["image-outside-the-allow-list", "empty-allow-list-outside-the-local-stack"],
)
def test_pod_start_rechecks_the_registry_allow_list(
    job: Job, k8s_emulator: K8sEmulator, monkeypatch: pytest.MonkeyPatch,
    allowlist: str, local_stack: str, named: str,
) -> None:  # fmt: skip
    from rdfox_pipeline.operators.rdfox_pod import PodStartRefused

    monkeypatch.setenv("IMAGE_REGISTRY_ALLOWLIST", allowlist)
    monkeypatch.setenv("LOCAL_STACK", local_stack)
    with pytest.raises(PodStartRefused) as caught:
        _operator(job).execute(job.context(1))
    assert named in str(caught.value)
    assert _created_pods(k8s_emulator, job) == []
    assert job.record["job_status"] == "SCHEDULE_FAILED"
    assert named in job.record["error_reason"]


def test_pod_start_refuses_a_jobspec_image_the_allow_list_no_longer_allows(
    job: Job, k8s_emulator: K8sEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's jobspec named an image the allow-list allowed when register_job checked it; not any more."""
    from rdfox_pipeline.operators.rdfox_pod import PodStartRefused

    job.registration["jobspec"] = {**job.registration["jobspec"], "images": {"rdfox": "old.example/rdfox:7"}}
    monkeypatch.setenv("IMAGE_REGISTRY_ALLOWLIST", "registry.invalid/,docker.io/")
    with pytest.raises(PodStartRefused, match=r"'old\.example/rdfox:7' is not under an allowed registry"):
        _operator(job).execute(job.context(1))
    assert _created_pods(k8s_emulator, job) == []
    assert job.record["job_status"] == "SCHEDULE_FAILED"
    assert "old.example/rdfox:7" in job.record["error_reason"]


def test_settings_refusing_after_the_pod_started_leave_the_job_to_its_pod(
    job: Job, k8s_emulator: K8sEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal is for new pods: a retry of a job whose pod runs fails and retries, recording nothing."""
    from rdfox_pipeline.domain.settings import SettingsError
    from rdfox_pipeline.operators.rdfox_pod import PodStartRefused

    try:
        with pytest.raises(TaskDeferred):
            _operator(job).execute(job.context(1))
        monkeypatch.setenv("IMAGE_REGISTRY_ALLOWLIST", "123456789012.dkr.ecr.eu-west-2.amazonaws.com/")
        with pytest.raises(SettingsError) as caught:
            _operator(job).execute(job.context(2))
        assert not isinstance(caught.value, PodStartRefused)  # retried, not failed for good
        assert job.record["job_status"] == "SCHEDULED" and "error_reason" not in job.record
    finally:
        _delete_pods(k8s_emulator, _created_pods(k8s_emulator, job))
