"""The pod builder: a pure function of (jobspec, job id, settings), schema-valid for Kubernetes, secure."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from rdfox_pipeline.domain.jobspec import parse_jobspec
from rdfox_pipeline.domain.settings import resolve_settings
from rdfox_pipeline.pod.manifest import build_pod_manifest
from rdfox_pipeline.pod.names import label_value, pod_name_for

CLI = str(Path(sys.executable).with_name("rdfox-pipeline"))
K8S_VERSION = "1.31"  # EKS's long-supported minor; the schema of later versions only adds fields
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

OLD_FORM = {
    "requested_cores": 4,
    "requested_memory": "10Gi",
    "init_container_image": "registry.example.com/rdfox-pipeline/prepare:0.1.0",
    "publisher_container_image": "registry.example.com/rdfox-pipeline/publish:0.1.0",
    "rdfox_container_image": "oxfordsemantic/rdfox:7.1.1",
    "auto_shutdown": True,
    "parallelism": 1,
    "job_bucket": "in-bucket",
    "job_key": "DATASET",
    "output_bucket": "out-bucket",
}


# The operator's buckets are the ones OLD_FORM repeats (a jobspec may not choose others: jobspec_policy).
CLI_ENV = {**os.environ, "INPUT_BUCKET": "in-bucket", "OUTPUT_BUCKET": "out-bucket"}


def _manifest(raw: dict, job_id: str = "DATASET_2021-08-01_000", **env: str) -> dict:
    spec = parse_jobspec(raw)
    settings = resolve_settings(spec.setting_overrides(), env={"AWS_DEFAULT_REGION": "eu-west-2", **env})
    return build_pod_manifest(spec, job_id, settings)


def _containers(manifest: dict) -> dict[str, dict]:
    spec = manifest["spec"]
    return {c["name"]: c for c in [*spec["initContainers"], *spec["containers"]]}


def test_old_form_jobspec_gives_a_schema_valid_manifest() -> None:
    manifest = _manifest(OLD_FORM)
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)  # strict: no unknown fields either


def test_schema_validation_does_catch_a_broken_manifest() -> None:
    # Guards the test above: the validator really checks what we build.
    manifest = _manifest(OLD_FORM)
    manifest["spec"]["initContainers"][0]["securityContext"]["runAsNonRoot"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_steps_run_in_order_and_publish_is_the_watched_container() -> None:
    manifest = _manifest(OLD_FORM)
    spec = manifest["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["prepare", "rdfox"]
    # The operator watches "base" and deletes the pod only when it ended: publish must be that container.
    assert [c["name"] for c in spec["containers"]] == ["base"]
    # The old form's publisher image cannot run the new publish step: the PUBLISH_IMAGE setting's runs.
    assert spec["containers"][0]["image"] == "registry.invalid/rdfox-pipeline/publish:0.1.0"
    assert spec["containers"][0]["command"] == ["python", "-m", "rdfox_local.steps.publish"]
    assert spec["initContainers"][0]["command"] == ["python", "-m", "rdfox_local.steps.prepare"]
    assert spec["restartPolicy"] == "Never"


def test_rdfox_runs_the_script_in_sandbox_mode_and_keeps_its_exit_status() -> None:
    rdfox = _containers(_manifest(OLD_FORM))["rdfox"]
    assert rdfox["image"] == "oxfordsemantic/rdfox:7.1.1"
    command = rdfox["command"][-1]
    assert "sandbox /data 'exec /scripts/job.rdfox'" in command  # one argument per shell command (RDFox 7)
    assert "> /output/rdfox.log 2>&1" in command
    assert "echo $? > /output/rdfox.exitcode" in command


def test_resources_come_from_cores_and_memory() -> None:
    rdfox = _containers(_manifest(OLD_FORM))["rdfox"]
    storage = rdfox["resources"]["limits"]["ephemeral-storage"]  # tests/unit/test_pod_hardening.py
    assert rdfox["resources"] == {
        "requests": {"cpu": "4", "memory": "10Gi", "ephemeral-storage": storage},
        "limits": {"cpu": "4", "memory": "10Gi", "ephemeral-storage": storage},
    }
    for container in _containers(_manifest(OLD_FORM)).values():
        assert container["resources"]["requests"] == container["resources"]["limits"]  # Guaranteed QoS


def test_security_settings() -> None:
    manifest = _manifest(OLD_FORM)
    pod_security = manifest["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] != 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert manifest["spec"]["automountServiceAccountToken"] is False
    for name, container in _containers(manifest).items():
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["runAsNonRoot"] is True, name
        assert security.get("privileged") is False, name
        # A read-only root needs somewhere writable: every container has /tmp on an emptyDir.
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), name
    assert all("emptyDir" in v for v in manifest["spec"]["volumes"])


def test_license_and_credentials_come_from_secrets_never_from_values() -> None:
    manifest = _manifest(OLD_FORM)
    env = {e["name"]: e for e in _containers(manifest)["rdfox"]["env"]}
    assert env["RDFOX_LICENSE_CONTENT"]["valueFrom"]["secretKeyRef"] == {
        "name": "rdfox-license", "key": "RDFox.lic", "optional": True,
    }  # fmt: skip
    # Sandbox mode serves no endpoint: the batch RDFox gets no role/password at all.
    assert "RDFOX_ROLE" not in env and "RDFOX_PASSWORD" not in env
    # No container mounts the license over /opt/RDFox (that would hide the image's executable).
    assert not any("secret" in v for v in manifest["spec"]["volumes"])


def test_jobspec_fields_override_settings() -> None:
    raw = {**OLD_FORM, "namespace": "reasoning", "service_account": "irsa-reader",
           "license_secret_name": "lic", "rdfox_password_secret": "creds"}  # fmt: skip
    manifest = _manifest(raw)
    assert manifest["metadata"]["namespace"] == "reasoning"
    assert manifest["spec"]["serviceAccountName"] == "irsa-reader"
    env = {e["name"]: e for e in _containers(manifest)["rdfox"]["env"]}
    assert env["RDFOX_LICENSE_CONTENT"]["valueFrom"]["secretKeyRef"]["name"] == "lic"
    assert "RDFOX_PASSWORD" not in env  # the old key is accepted; no batch pod uses a password


def test_settings_fill_what_the_jobspec_leaves_out() -> None:
    raw = {"dataset": "DATASET"}
    manifest = _manifest(raw, INPUT_BUCKET="in-default", OUTPUT_BUCKET="out-default",
                         SERVICE_ACCOUNT="from-settings", PREPARE_IMAGE="reg.example/prep:2")  # fmt: skip
    containers = _containers(manifest)
    assert manifest["spec"]["serviceAccountName"] == "from-settings"
    assert containers["prepare"]["image"] == "reg.example/prep:2"
    assert {"name": "JOB_BUCKET", "value": "in-default"} in containers["prepare"]["env"]
    assert {"name": "OUTPUT_BUCKET", "value": "out-default"} in containers["base"]["env"]


def test_missing_buckets_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="output_bucket: not in the jobspec and the OUTPUT_BUCKET setting"):
        _manifest({"dataset": "DATASET", "job_bucket": "in-bucket"})


def test_labels_and_name() -> None:
    manifest = _manifest(OLD_FORM)
    meta = manifest["metadata"]
    assert meta["name"] == "dataset-2021-08-01-000"
    assert meta["labels"]["rdfox-pipeline/job-id"] == "DATASET_2021-08-01_000"
    assert meta["labels"]["rdfox-pipeline/dataset"] == "DATASET"
    assert meta["annotations"]["rdfox-pipeline/job-id"] == "DATASET_2021-08-01_000"


def test_builder_is_pure() -> None:
    assert _manifest(OLD_FORM) == _manifest(OLD_FORM)
    assert json.loads(json.dumps(_manifest(OLD_FORM))) == _manifest(OLD_FORM)  # plain JSON data


@given(st.text(min_size=1, max_size=300))
def test_any_job_id_gives_a_dns1123_pod_name(job_id: str) -> None:
    name = pod_name_for(job_id)
    assert DNS1123_LABEL.match(name) and 1 <= len(name) <= 53, name


@given(st.text(min_size=1, max_size=300))
def test_any_text_gives_a_valid_label_value(text: str) -> None:
    value = label_value(text)
    assert LABEL_VALUE.match(value) and len(value) <= 63, value


def test_long_ids_that_share_a_prefix_stay_apart() -> None:
    a, b = "X" * 80 + "_2021-08-01_000", "X" * 80 + "_2021-08-01_001"
    assert pod_name_for(a) != pod_name_for(b)
    assert label_value(a) != label_value(b)


def test_pod_render_cli_prints_the_manifest(tmp_path: Path) -> None:
    path = tmp_path / "old.rdfoxjob.json"
    path.write_text(json.dumps(OLD_FORM))
    result = subprocess.run(
        [CLI, "pod", "render", str(path),
         "--job-id", "DATASET_2021-08-01_007"],
        capture_output=True, text=True, check=False, env=CLI_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert manifest["metadata"]["name"] == "dataset-2021-08-01-007"
    limits = _containers(manifest)["rdfox"]["resources"]["limits"]
    assert (limits["cpu"], limits["memory"]) == ("4", "10Gi")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--job-id", "OTHER_2021-08-01_000"], "dataset 'OTHER' is not the jobspec's 'DATASET'"),
        (["--job-id", "nonsense"], "--job-id: job id 'nonsense' must look like"),
    ],
)
def test_pod_render_cli_rejects_a_bad_job_id(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "old.rdfoxjob.json"
    path.write_text(json.dumps(OLD_FORM))
    result = subprocess.run(
        [CLI, "pod", "render", str(path), *args],
        capture_output=True, text=True, check=False, env=CLI_ENV,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
