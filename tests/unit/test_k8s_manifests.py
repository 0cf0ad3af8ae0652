"""deploy/k8s/: every manifest valid against Kubernetes' schemas (kubernetes-validate, offline), and what they
grant and select matches what the pipeline renders (issue 15). The Role's verbs are checked against the pod
operator in tests/unit/test_iam_policies.py and tests/unit/test_pod_hardening.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from rdfox_pipeline.domain.jobspec import parse_jobspec
from rdfox_pipeline.domain.settings import resolve_settings
from rdfox_pipeline.pod.endpoint import build_endpoint_manifest
from rdfox_pipeline.pod.manifest import LICENSE_SECRET_KEY, build_pod_manifest

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
K8S_VERSION = "1.31"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "Namespace"}


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S_DIR / name).read_text()) if d]


def _pods() -> list[dict[str, Any]]:
    settings = resolve_settings(env={"AWS_DEFAULT_REGION": "eu-west-2"})
    spec = {"dataset": "DS", "job_bucket": "in-bucket", "output_bucket": "out-bucket"}
    batch = build_pod_manifest(parse_jobspec(spec), "DS_2024-01-01_000", settings)
    kept = parse_jobspec({**spec, "rdfox": {"keep_endpoint": True}})
    endpoint = build_endpoint_manifest(kept, "DS_2024-01-01_000", settings, now=datetime.now(UTC))
    return [batch, endpoint]


@pytest.mark.parametrize("name", sorted(p.name for p in K8S_DIR.glob("*.yaml")))
def test_every_manifest_is_valid_kubernetes(name: str) -> None:
    docs = _docs(name)
    assert docs, name
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"]["namespace"] == "rdfox", (name, doc["kind"])


def test_nothing_cluster_wide_but_the_optional_node_reader() -> None:
    for path in K8S_DIR.glob("*.yaml"):
        kinds = {d["kind"] for d in _docs(path.name)}
        if path.name != "optional-node-reader.yaml":
            assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, path.name
    reader = {d["kind"]: d for d in _docs("optional-node-reader.yaml")}
    assert reader["ClusterRole"]["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]


def test_the_secret_template_holds_no_value() -> None:
    (secret,) = _docs("rdfox-license-secret.yaml")
    settings = resolve_settings(env={"AWS_DEFAULT_REGION": "eu-west-2"})
    assert secret["metadata"]["name"] == settings.rdfox_license_secret
    assert secret["stringData"] == {LICENSE_SECRET_KEY: ""} and "data" not in secret


def test_the_network_policies_select_the_pods_the_pipeline_renders() -> None:
    policies = {d["metadata"]["name"]: d["spec"] for d in _docs("rdfox-networkpolicy.yaml")}
    batch, endpoint = _pods()

    def selects(spec: dict[str, Any], pod: dict[str, Any]) -> bool:
        labels = pod["metadata"]["labels"]
        return all(labels.get(k) == v for k, v in spec["podSelector"]["matchLabels"].items())

    no_ingress = policies["rdfox-pipeline-reasoning-no-ingress"]
    assert selects(no_ingress, batch) and not selects(no_ingress, endpoint)  # the endpoint admits its clients
    assert no_ingress["ingress"] == [] and no_ingress["policyTypes"] == ["Ingress"]
    egress = policies["rdfox-pipeline-egress"]
    assert selects(egress, batch) and selects(egress, endpoint)
    ports = {(p["protocol"], p["port"]) for rule in egress["egress"] for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 443)}
