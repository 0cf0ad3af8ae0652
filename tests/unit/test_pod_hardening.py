"""Issue 18 (pod side): bounded disk, the restricted Pod Security Standard, per-job endpoint credentials.

Every pod the pipeline renders (the batch pod and the kept endpoint's pod) is checked against the rules of
the ``restricted`` Pod Security Standard that the namespace of deploy/k8s enforces, and against Kubernetes'
own schema (kubernetes-validate) for the Secret and NetworkPolicy that come with an endpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from rdfox_pipeline.domain.jobspec import JobSpecError, parse_jobspec
from rdfox_pipeline.domain.settings import SettingsError, resolve_settings
from rdfox_pipeline.domain.validators import quantity_bytes
from rdfox_pipeline.pod.endpoint import (
    build_endpoint_manifest,
    build_endpoint_network_policy,
    build_endpoint_secret,
    endpoint_pod_name,
)
from rdfox_pipeline.pod.manifest import build_pod_manifest

K8S_VERSION = "1.31"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
JOB_ID = "DATASET_2024-05-01_000"
SPEC = {"dataset": "DATASET", "job_bucket": "in-bucket", "output_bucket": "out-bucket"}
# Volume types the restricted profile allows (Kubernetes docs, "Pod Security Standards", Restricted).
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
    "secret",
}  # fmt: skip


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What of the restricted Pod Security Standard (v1.31) the pod breaks; empty when it complies."""
    spec, found = pod["spec"], []
    pod_sc = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"spec.{key}")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    containers = [*(spec.get("initContainers") or []), *spec["containers"]]
    for c in containers:
        sc, name = c.get("securityContext") or {}, c["name"]
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot must be true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        if any(port.get("hostPort") for port in c.get("ports") or []):
            found.append(f"{name}: hostPort")
    return found


def _settings(spec: Any, **env: str) -> Any:
    return resolve_settings(spec.setting_overrides(), env={"AWS_DEFAULT_REGION": "eu-west-2", **env})


def _batch(**env: str) -> dict[str, Any]:
    spec = parse_jobspec(SPEC)
    return build_pod_manifest(spec, JOB_ID, _settings(spec, **env))


def _endpoint(**env: str) -> dict[str, Any]:
    spec = parse_jobspec({**SPEC, "rdfox": {"keep_endpoint": True}})
    return build_endpoint_manifest(spec, JOB_ID, _settings(spec, **env), now=NOW)


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]


@pytest.mark.parametrize("render", [_batch, _endpoint], ids=["batch", "endpoint"])
def test_rendered_pods_satisfy_the_restricted_pod_security_standard(render: Any) -> None:
    pod = render()
    assert restricted_violations(pod) == []
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_the_restricted_check_does_catch_violations() -> None:
    pod = _batch()
    pod["spec"]["securityContext"].pop("seccompProfile")
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    found = restricted_violations(pod)
    assert "base: allowPrivilegeEscalation must be false" in found
    assert "prepare: seccompProfile must be RuntimeDefault or Localhost" in found
    assert "volume host: ['hostPath']" in found


@pytest.mark.parametrize("render", [_batch, _endpoint], ids=["batch", "endpoint"])
def test_every_volume_and_container_has_a_disk_bound(render: Any) -> None:
    pod = render()
    limits = {v["name"]: quantity_bytes(v["emptyDir"]["sizeLimit"]) for v in pod["spec"]["volumes"]}
    assert all(limit > 0 for limit in limits.values())
    for container in _containers(pod):
        resources = container["resources"]
        request = quantity_bytes(resources["requests"]["ephemeral-storage"])
        limit = quantity_bytes(resources["limits"]["ephemeral-storage"])
        # Every emptyDir counts against the pod's ephemeral storage: a container's bound must cover them,
        # or Kubernetes would evict the pod before a volume reached its own limit.
        assert request == limit >= sum(limits.values(), Decimal(0)), container["name"]


def test_disk_bounds_come_from_settings() -> None:
    pod = _batch(POD_DATA_VOLUME_LIMIT="3Gi", POD_OUTPUT_VOLUME_LIMIT="500Mi")
    volumes = {v["name"]: v["emptyDir"]["sizeLimit"] for v in pod["spec"]["volumes"]}
    assert volumes["data"] == "3Gi" and volumes["output"] == "500Mi"
    default = {v["name"]: v["emptyDir"]["sizeLimit"] for v in _batch()["spec"]["volumes"]}
    assert default["data"] == "20Gi" and default["output"] == "5Gi"
    with pytest.raises(SettingsError, match="POD_DATA_VOLUME_LIMIT"):
        _batch(POD_DATA_VOLUME_LIMIT="lots")


@pytest.mark.parametrize(
    ("name", "value"),
    [("POD_DATA_VOLUME_LIMIT", "1Ti"), ("POD_OUTPUT_VOLUME_LIMIT", "1Ti"), ("RDFOX_MAX_ENDPOINTS", 100),
     ("RDFOX_ENDPOINT_CLIENT_NAMESPACE", "default")],
)  # fmt: skip
def test_pod_bounds_are_operator_settings_a_jobspec_cannot_set(name: str, value: object) -> None:
    with pytest.raises(JobSpecError, match=f"{name}.*cannot be overridden per job"):
        parse_jobspec({**SPEC, "settings": {name: value}})


def test_batch_rdfox_container_gets_no_reusable_admin_password() -> None:
    names = {e["name"] for c in _containers(_batch()) for e in c.get("env") or []}
    assert "RDFOX_LICENSE_CONTENT" in names
    assert not names & {"RDFOX_ROLE", "RDFOX_PASSWORD"}


def test_endpoint_credentials_come_from_its_own_secret() -> None:
    pod = _endpoint()
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    for var, key in (("RDFOX_ROLE", "role"), ("RDFOX_PASSWORD", "password")):
        ref = env[var]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": pod["metadata"]["name"], "key": key, "optional": False}


def test_endpoint_secret_holds_the_given_credentials_and_names_its_job() -> None:
    pod = _endpoint()
    secret = build_endpoint_secret(pod, role="rdfox-1a2b3c4d", password="pw-not-logged")
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    assert secret["metadata"]["name"] == pod["metadata"]["name"]
    assert secret["metadata"]["namespace"] == pod["metadata"]["namespace"]
    assert secret["metadata"]["labels"] == pod["metadata"]["labels"]
    assert secret["stringData"] == {"role": "rdfox-1a2b3c4d", "password": "pw-not-logged"}
    assert secret["type"] == "Opaque" and secret["immutable"] is True


@pytest.mark.parametrize(
    ("client_namespace", "sources"),
    [(None, []), ("investigators", [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "investigators"}}}])],
)  # fmt: skip
def test_endpoint_network_policy_admits_only_the_configured_namespace(
    client_namespace: str | None, sources: list[dict[str, Any]]
) -> None:
    env = {"RDFOX_ENDPOINT_CLIENT_NAMESPACE": client_namespace} if client_namespace else {}
    pod = _endpoint(**env)
    spec = parse_jobspec({**SPEC, "rdfox": {"keep_endpoint": True}})
    policy = build_endpoint_network_policy(pod, _settings(spec, **env))
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    assert policy["spec"]["podSelector"] == {"matchLabels": pod["metadata"]["labels"]}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    if sources:
        assert policy["spec"]["ingress"] == [{"from": sources, "ports": [{"protocol": "TCP", "port": 12110}]}]
    else:  # no namespace configured: nothing is admitted over the network (kubectl port-forward still is)
        assert policy["spec"]["ingress"] == []


@pytest.mark.parametrize(
    ("first", "second"),
    [("A.B_2024-05-01_000", "a-b_2024-05-01_000"), ("X_2024-05-01_000", "x_2024-05-01_000"),
     ("A" * 60 + "_2024-05-01_000", "A" * 60 + "B_2024-05-01_000")],
)  # fmt: skip
def test_endpoint_pod_names_do_not_collide_across_datasets(first: str, second: str) -> None:
    assert endpoint_pod_name(first) != endpoint_pod_name(second)
    for name in (endpoint_pod_name(first), endpoint_pod_name(second)):
        assert len(name) <= 63 and name.endswith("-endpoint") and name[0].isalnum()
    assert endpoint_pod_name(first) == endpoint_pod_name(first)  # stable: `endpoint delete` finds it again


DEPLOY_NAMESPACE = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "rdfox-namespace.yaml"


def _deploy() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(DEPLOY_NAMESPACE.read_text()) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    return {d["kind"]: d for d in docs}


def test_deploy_namespace_enforces_restricted_and_bounds_its_pods() -> None:
    kinds = _deploy()
    labels = kinds["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    namespace = kinds["Namespace"]["metadata"]["name"]
    assert kinds["ResourceQuota"]["metadata"]["namespace"] == kinds["LimitRange"]["metadata"]["namespace"]
    assert kinds["ResourceQuota"]["metadata"]["namespace"] == namespace
    hard = kinds["ResourceQuota"]["spec"]["hard"]
    for resource in ("cpu", "memory", "ephemeral-storage"):
        assert f"requests.{resource}" in hard and f"limits.{resource}" in hard
    [container_limits] = [lim for lim in kinds["LimitRange"]["spec"]["limits"] if lim["type"] == "Container"]
    # The pods rendered with the default settings fit the LimitRange's per-container maximum.
    for pod in (_batch(), _endpoint()):
        for container in _containers(pod):
            for resource, value in container["resources"]["limits"].items():
                maximum = container_limits["max"][resource]
                assert quantity_bytes(value) <= quantity_bytes(maximum), (container["name"], resource)


def test_deploy_role_may_create_and_delete_secrets_but_never_read_them() -> None:
    rules = _deploy()["Role"]["rules"]
    verbs = {verb for rule in rules if "secrets" in rule["resources"] for verb in rule["verbs"]}
    assert verbs == {"create", "delete"}  # no get/list/watch, and no patch (its answer is the Secret)
    policies = {verb for rule in rules if "networkpolicies" in rule["resources"] for verb in rule["verbs"]}
    assert policies == {"create", "patch", "delete"}
