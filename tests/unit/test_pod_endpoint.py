"""The kept-up endpoint's pod and script: schema-valid, TTL enforced by Kubernetes, credentials required."""

from __future__ import annotations

from datetime import UTC, datetime

import kubernetes_validate
import pytest
from rdfox_pipeline.domain.jobspec import parse_jobspec
from rdfox_pipeline.domain.settings import resolve_settings
from rdfox_pipeline.pod.endpoint import build_endpoint_manifest, endpoint_pod_name
from rdfox_pipeline.pod.script import generate_endpoint_script

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OLD_FORM = {"job_key": "DATASET", "job_bucket": "in-bucket", "output_bucket": "out-bucket",
            "requested_cores": 2, "requested_memory": "4Gi", "auto_shutdown": False}  # fmt: skip


def _manifest(raw: dict = OLD_FORM, **kwargs: object) -> dict:
    spec = parse_jobspec(raw)
    settings = resolve_settings(spec.setting_overrides(), env={"AWS_DEFAULT_REGION": "eu-west-2"})
    return build_endpoint_manifest(spec, "DATASET_2024-05-01_000", settings, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_schema_valid() -> None:
    kubernetes_validate.validate(_manifest(), "1.31", strict=True)


def test_ttl_is_the_pods_active_deadline_and_its_expiry_annotation() -> None:
    manifest = _manifest()
    assert manifest["spec"]["activeDeadlineSeconds"] == 24 * 3600  # RDFOX_ENDPOINT_TTL_HOURS default
    assert manifest["metadata"]["annotations"]["rdfox-pipeline/expires-at"] == "2024-05-02T12:00:00Z"
    raw = {"dataset": "DATASET", "output_bucket": "out-bucket", "rdfox": {"endpoint_ttl_hours": 2}}
    assert _manifest(raw)["spec"]["activeDeadlineSeconds"] == 7200
    assert _manifest(ttl_seconds=30)["spec"]["activeDeadlineSeconds"] == 30


def test_serves_the_published_answers_with_credentials_required() -> None:
    manifest = _manifest()
    fetch, rdfox = manifest["spec"]["initContainers"][0], manifest["spec"]["containers"][0]
    assert fetch["command"] == ["python", "-m", "rdfox_local.steps.endpoint"]
    assert {"name": "OUTPUT_BUCKET", "value": "out-bucket"} in fetch["env"]
    assert rdfox["command"] == [
        "/opt/RDFox/RDFox", "-port", "12110", "sandbox", "/data", "exec /scripts/endpoint.rdfox",
    ]  # fmt: skip
    assert rdfox["stdin"] is True  # RDFox's shell keeps waiting on it: the endpoint stays up
    env = {e["name"]: e for e in rdfox["env"]}
    assert env["RDFOX_PASSWORD"]["valueFrom"]["secretKeyRef"]["optional"] is False
    assert env["RDFOX_LICENSE_CONTENT"]["valueFrom"]["secretKeyRef"]["key"] == "RDFox.lic"
    assert rdfox["ports"] == [{"name": "rdfox", "containerPort": 12110, "protocol": "TCP"}]


def test_labels_and_name_set_it_apart_from_the_reasoning_pod() -> None:
    meta = _manifest()["metadata"]
    assert meta["name"] == endpoint_pod_name("DATASET_2024-05-01_000")
    assert meta["name"].startswith("dataset-2024-05-01-000-") and meta["name"].endswith("-endpoint")
    assert meta["labels"]["app.kubernetes.io/component"] == "endpoint"
    assert meta["labels"]["rdfox-pipeline/job-id"] == "DATASET_2024-05-01_000"
    assert len(endpoint_pod_name("X" * 200)) <= 63


def test_security_matches_the_reasoning_pod() -> None:
    manifest = _manifest()
    assert manifest["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in [*manifest["spec"]["initContainers"], *manifest["spec"]["containers"]]:
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_endpoint_manifest(
            parse_jobspec(OLD_FORM),
            "DATASET_2024-05-01_000",
            resolve_settings(env={}),
            now=datetime(2024, 5, 1),
        )
    with pytest.raises(ValueError, match="at least 1 second"):
        _manifest(ttl_seconds=0)
    with pytest.raises(ValueError, match="OUTPUT_BUCKET"):
        _manifest({"dataset": "DATASET"})


def test_endpoint_script_loads_then_serves_and_does_not_quit() -> None:
    lines = generate_endpoint_script(data_files=["b.rq.nt", "a.rq.nt"]).splitlines()
    assert lines == [
        "set on-error stop", "dstore create published type parallel-nw", "active published", "begin",
        'import "/data/a.rq.nt"', 'import "/data/b.rq.nt"', "commit", "endpoint start", "echo ENDPOINT-READY",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="no answers"):
        generate_endpoint_script(data_files=[])
