"""Kept endpoints on the Kubernetes emulator over HTTP: own credentials, a NetworkPolicy, a cap, clean-up.

Each endpoint gets a Secret with its own random role and password, created before its pod and owned by it;
deleting the pod (``endpoint delete``, the reaper, or anyone) takes the Secret and the NetworkPolicy along.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes import client as k8s_client
from rdfox_pipeline.domain.jobspec import parse_jobspec
from rdfox_pipeline.domain.settings import Settings, resolve_settings
from rdfox_pipeline.pod.endpoint import build_endpoint_manifest
from rdfox_pipeline.pod.endpoint_lifecycle import (
    EndpointCapReached,
    alive_endpoints,
    delete_endpoint,
    reap_endpoints,
    start_endpoint,
)

from tests.conftest import TEST_REGION
from tests.integration.k8s_emulator_fixtures import K8sEmulator

SHOWS_CREDENTIALS = "example.test/shows-credentials:1"


@pytest.fixture(scope="module")
def published(moto_server: str) -> str:
    """An output bucket where every job of these tests has one published answer file."""
    bucket = f"endpoint-out-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", moto_server)
        boto3.client("s3", region_name=TEST_REGION).create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION}
        )
    return bucket


def _apis(emulator: K8sEmulator) -> tuple[Any, Any]:
    core = emulator.client()
    return core, k8s_client.NetworkingV1Api(core.api_client)


def _job(bucket: str, moto_server: str, namespace: str, **env: Any) -> tuple[dict[str, Any], Settings]:
    dataset = "DS" + uuid.uuid4().hex[:8].upper()
    job_id = f"{dataset}_2024-05-01_000"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", moto_server)
        boto3.client("s3", region_name=TEST_REGION).put_object(
            Bucket=bucket, Key=f"{dataset}/{job_id}/data/q.rq.nt", Body=b"<urn:a> <urn:b> <urn:c> .\n"
        )
    spec = parse_jobspec({"dataset": dataset, "output_bucket": bucket, "images": {"rdfox": SHOWS_CREDENTIALS},
                          "rdfox": {"keep_endpoint": True}})  # fmt: skip
    settings = resolve_settings(
        env={"AWS_DEFAULT_REGION": TEST_REGION, "KUBERNETES_NAMESPACE": namespace, **env}
    )
    return build_endpoint_manifest(spec, job_id, settings, now=datetime.now(tz=UTC)), settings


def _log_line(core: Any, name: str, namespace: str, timeout: float = 60.0) -> str:
    """The stand-in RDFox's one line (role and password digest), once its container has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = core.read_namespaced_pod_log(
                name, namespace, container="rdfox", _preload_content=False
            )
            text = response.data.decode()
        except k8s_client.ApiException:
            text = ""  # not started yet
        if text.strip():
            return text.strip()
        time.sleep(0.2)
    fetch = core.read_namespaced_pod_log(name, namespace, container="fetch")
    raise AssertionError(f"endpoint {name} wrote nothing; fetch said: {fetch}")


def _missing(call: Any) -> bool:
    try:
        call()
    except k8s_client.ApiException as exc:
        return exc.status == 404
    return False


def test_each_endpoint_gets_its_own_random_credentials_from_its_own_secret(
    k8s_emulator_process: K8sEmulator, published: str, moto_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    core, networking = _apis(k8s_emulator_process)
    namespace = f"ep-{uuid.uuid4().hex[:6]}"
    caplog.set_level(logging.DEBUG, logger="rdfox_pipeline")
    seen = []
    for _ in range(2):
        manifest, settings = _job(published, moto_server, namespace)
        started = start_endpoint(core, networking, manifest, settings)
        secret = core.read_namespaced_secret(started.name, namespace)
        role = base64.b64decode(secret.data["role"]).decode()
        password = base64.b64decode(secret.data["password"]).decode()
        assert len(password) >= 32 and role.startswith("rdfox-")
        # The pod is the Secret's owner: Kubernetes deletes the Secret with it.
        pod = core.read_namespaced_pod(started.name, namespace)
        assert [(o.kind, o.name, o.uid) for o in secret.metadata.owner_references] == [
            ("Pod", pod.metadata.name, pod.metadata.uid)
        ]
        # What RDFox got is that Secret's role and password (the stand-in prints only a digest).
        digest = hashlib.sha256(password.encode()).hexdigest()
        assert _log_line(core, started.name, namespace) == f"role {role} sha256 {digest}"
        assert password not in caplog.text and password not in repr(started)
        assert started.password_command() == (
            f"kubectl get secret -n {namespace} {started.name} -o jsonpath='{{.data.password}}' | base64 -d"
        )
        seen.append((role, password))
    assert seen[0][0] != seen[1][0] and seen[0][1] != seen[1][1]


def test_network_policy_admits_only_the_configured_namespace_and_goes_with_the_pod(
    k8s_emulator_process: K8sEmulator, published: str, moto_server: str
) -> None:
    core, networking = _apis(k8s_emulator_process)
    namespace = f"ep-{uuid.uuid4().hex[:6]}"
    manifest, settings = _job(
        published, moto_server, namespace, RDFOX_ENDPOINT_CLIENT_NAMESPACE="investigators"
    )
    started = start_endpoint(core, networking, manifest, settings)
    policy = networking.read_namespaced_network_policy(started.name, namespace)
    assert policy.spec.pod_selector.match_labels == manifest["metadata"]["labels"]
    [rule] = policy.spec.ingress
    assert rule._from[0].namespace_selector.match_labels == {"kubernetes.io/metadata.name": "investigators"}
    pod = core.read_namespaced_pod(started.name, namespace)
    assert policy.metadata.owner_references[0].uid == pod.metadata.uid
    # Deleting the pod by any means (kubectl, the TTL reaper) takes its Secret and NetworkPolicy along.
    core.delete_namespaced_pod(started.name, namespace)
    assert _missing(lambda: core.read_namespaced_secret(started.name, namespace))
    assert _missing(lambda: networking.read_namespaced_network_policy(started.name, namespace))


def test_endpoints_alive_are_capped_and_batch_pods_do_not_count(
    k8s_emulator_process: K8sEmulator, published: str, moto_server: str
) -> None:
    core, networking = _apis(k8s_emulator_process)
    namespace = f"ep-{uuid.uuid4().hex[:6]}"
    cap = {"RDFOX_MAX_ENDPOINTS": "2"}
    # A batch pod in the namespace (component "reasoning") is not an endpoint.
    batch, _ = _job(published, moto_server, namespace)
    batch["metadata"].update(name=f"batch-{uuid.uuid4().hex[:6]}")
    batch["metadata"]["labels"]["app.kubernetes.io/component"] = "reasoning"
    core.create_namespaced_pod(namespace, batch)
    first = start_endpoint(core, networking, *_job(published, moto_server, namespace, **cap))
    second = start_endpoint(core, networking, *_job(published, moto_server, namespace, **cap))
    assert alive_endpoints(core, namespace) == sorted([first.name, second.name])
    third, settings = _job(published, moto_server, namespace, **cap)
    refused = r"2 kept RDFox endpoint\(s\) .* RDFOX_MAX_ENDPOINTS cap is 2"
    with pytest.raises(EndpointCapReached, match=refused):
        start_endpoint(core, networking, third, settings)
    # Refused before anything was created.
    assert _missing(lambda: core.read_namespaced_pod(third["metadata"]["name"], namespace))
    assert _missing(lambda: core.read_namespaced_secret(third["metadata"]["name"], namespace))
    # Ending one makes room; delete_endpoint removes the pod, the Secret and the NetworkPolicy itself.
    assert delete_endpoint(core, networking, namespace, first.name) is True
    assert _missing(lambda: core.read_namespaced_secret(first.name, namespace))
    assert delete_endpoint(core, networking, namespace, first.name) is False
    start_endpoint(core, networking, third, settings)
    with pytest.raises(EndpointCapReached):
        start_endpoint(core, networking, *_job(published, moto_server, namespace, RDFOX_MAX_ENDPOINTS="0"))


def test_an_ended_endpoint_of_the_job_makes_way_for_a_new_one(
    k8s_emulator_process: K8sEmulator, published: str, moto_server: str
) -> None:
    core, networking = _apis(k8s_emulator_process)
    namespace = f"ep-{uuid.uuid4().hex[:6]}"
    manifest, settings = _job(published, moto_server, namespace)
    manifest["spec"]["activeDeadlineSeconds"] = 1  # ends as its TTL would, leaving pod and Secret behind
    first = start_endpoint(core, networking, manifest, settings)
    deadline = time.monotonic() + 30
    while core.read_namespaced_pod(first.name, namespace).status.phase != "Failed":
        assert time.monotonic() < deadline, "the endpoint did not end at its deadline"
        time.sleep(0.2)
    old_password = core.read_namespaced_secret(first.name, namespace).data["password"]
    manifest["spec"]["activeDeadlineSeconds"] = 3600
    again = start_endpoint(core, networking, manifest, settings)
    assert again.name == first.name
    assert core.read_namespaced_pod(again.name, namespace).status.phase != "Failed"
    assert core.read_namespaced_secret(again.name, namespace).data["password"] != old_password


def test_reaper_deletes_expired_endpoints_with_their_secrets(
    k8s_emulator_process: K8sEmulator, published: str, moto_server: str
) -> None:
    core, networking = _apis(k8s_emulator_process)
    namespace = f"ep-{uuid.uuid4().hex[:6]}"
    started = start_endpoint(core, networking, *_job(published, moto_server, namespace))
    assert reap_endpoints(core, networking, namespace, datetime.now(tz=UTC)) == []
    later = datetime.now(tz=UTC) + timedelta(hours=25)  # past the default 24 h TTL
    assert reap_endpoints(core, networking, namespace, later) == [started.name]
    assert _missing(lambda: core.read_namespaced_pod(started.name, namespace))
    assert _missing(lambda: core.read_namespaced_secret(started.name, namespace))
    assert _missing(lambda: networking.read_namespaced_network_policy(started.name, namespace))


def test_operator_refuses_a_keep_endpoint_job_at_the_cap_before_its_pod_starts(
    k8s_emulator: K8sEmulator, published: str, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.aws.job_table import JobTable
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache
    from rdfox_pipeline.operators.rdfox_pod import EndpointCapRefused, RdfoxPodOperator

    namespace, table_name = f"ep-{uuid.uuid4().hex[:6]}", f"jobs-{uuid.uuid4().hex[:8]}"
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "JOB_TABLE_NAME": table_name,
        "AWS_DEFAULT_REGION": TEST_REGION,
        "KUBERNETES_NAMESPACE": namespace,
        "RDFOX_MAX_ENDPOINTS": "1",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_server, "region_name": TEST_REGION},
            }
        ),
    }.items():
        monkeypatch.setenv(name, value)  # fmt: skip
    clear_settings_cache()
    table = JobTable(boto3.client("dynamodb"), table_name=table_name, delimiter="_")
    table.create_table_if_missing()
    core, networking = _apis(k8s_emulator)
    start_endpoint(core, networking, *_job(published, moto_server, namespace))  # the one the cap allows

    def operator(keep: bool) -> tuple[RdfoxPodOperator, str]:
        spec = {"dataset": "CAPPED", "output_bucket": published, "rdfox": {"keep_endpoint": keep}}
        job_id = table.allocate_job("CAPPED", jobspec=spec)
        return RdfoxPodOperator(task_id="reason", registration={"job_id": job_id, "jobspec": spec}), job_id

    kept, job_id = operator(True)
    with pytest.raises(EndpointCapRefused, match="RDFOX_MAX_ENDPOINTS cap is 1") as refused:
        kept._refuse_endpoint_over_cap(namespace)
    kept._record_failure(refused.value)
    record = table.get_job(job_id) or {}
    assert record["job_status"] == "SCHEDULE_FAILED"
    assert "RDFOX_MAX_ENDPOINTS cap is 1" in record["error_reason"]
    plain, _ = operator(False)
    plain._refuse_endpoint_over_cap(namespace)  # a job that does not keep its endpoint is not counted
    # A retry whose job already has its pod reattaches to it: not refused.
    retry, retry_id = operator(True)
    table.record_status(retry_id, "SCHEDULED", pod_name="capped-pod")
    retry._refuse_endpoint_over_cap(namespace)

    # An old flat-form jobspec keeps its endpoint only because the old submitter's auto_shutdown said so:
    # at the cap its job runs as it always did, keeps no endpoint, and the record and message say why.
    from rdfox_pipeline.domain.jobspec import parse_jobspec_with_notes
    from rdfox_pipeline.notifications.render import render_notification

    old_form = {"job_key": "CAPPED", "output_bucket": published, "auto_shutdown": False}
    parsed = parse_jobspec_with_notes(old_form)
    spec = parsed.spec.to_json_dict()
    old_id = table.allocate_job("CAPPED", jobspec=spec)
    old = RdfoxPodOperator(
        task_id="reason",
        registration={"job_id": old_id, "jobspec": spec, "jobspec_notes": list(parsed.notes)},
    )
    old._refuse_endpoint_over_cap(namespace)  # not refused
    table.record_status(old_id, "SCHEDULED", pod_name="old-form-pod")
    old._start_endpoint_if_asked()
    record = table.get_job(old_id) or {}
    assert record["job_status"] == "SCHEDULED"
    assert "RDFOX_MAX_ENDPOINTS cap is 1" in record["rdfox_endpoint_not_kept"]
    assert not record.get("rdfox_endpoint_pod")
    assert len(alive_endpoints(core, namespace)) == 1  # still only the first one
    body = render_notification(record, outcome="success").body
    assert "Kept up" in body and "asked for, but not started" in body and "cap is 1" in body


CLI = str(Path(sys.executable).with_name("rdfox-pipeline"))


def test_cli_starts_an_endpoint_with_its_secret_and_deletes_both(
    k8s_emulator_process: K8sEmulator, published: str, moto_server: str, tmp_path: Path
) -> None:
    core, networking = _apis(k8s_emulator_process)
    namespace = f"ep-{uuid.uuid4().hex[:6]}"
    manifest, _ = _job(published, moto_server, namespace)
    job_id = manifest["metadata"]["annotations"]["rdfox-pipeline/job-id"]
    jobspec = tmp_path / "job.rdfoxjob.json"
    jobspec.write_text(json.dumps({"dataset": job_id.split("_")[0], "output_bucket": published,
                                   "images": {"rdfox": SHOWS_CREDENTIALS}}))  # fmt: skip
    env = {**os.environ, "AWS_DEFAULT_REGION": TEST_REGION, "RDFOX_MAX_ENDPOINTS": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CLI, "endpoint", *args, "--kubeconfig", str(k8s_emulator_process.kubeconfig),
             "--namespace", namespace],
            capture_output=True, text=True, timeout=60, check=False, env=env,
        )  # fmt: skip

    started = cli("start", str(jobspec), "--job-id", job_id)
    assert started.returncode == 0, started.stderr
    name = manifest["metadata"]["name"]
    password = base64.b64decode(core.read_namespaced_secret(name, namespace).data["password"]).decode()
    assert password not in started.stdout + started.stderr
    assert (
        f"password: kubectl get secret -n {namespace} {name} -o jsonpath='{{.data.password}}' | base64 -d"
        in started.stdout
    )
    again = cli("start", str(jobspec), "--job-id", job_id)
    assert again.returncode == 2 and "the endpoint of this job already runs" in again.stderr
    other, _ = _job(published, moto_server, namespace)
    other_id = other["metadata"]["annotations"]["rdfox-pipeline/job-id"]
    jobspec.write_text(json.dumps({"dataset": other_id.split("_")[0], "output_bucket": published}))
    capped = cli("start", str(jobspec), "--job-id", other_id)  # the cap (1) is reached
    assert capped.returncode == 2 and "RDFOX_MAX_ENDPOINTS cap is 1" in capped.stderr, capped.stderr
    deleted = cli("delete", job_id)
    assert deleted.returncode == 0, deleted.stderr
    assert _missing(lambda: core.read_namespaced_secret(name, namespace))
    assert _missing(lambda: networking.read_namespaced_network_policy(name, namespace))
