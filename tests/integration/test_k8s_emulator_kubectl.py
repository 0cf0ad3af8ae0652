"""The Kubernetes emulator as kubectl sees it: Tables for `get`, OpenAPI for `apply` validation, namespaces
and nodes, and a Kubernetes Status (not an HTML page) for what it does not serve, on a connection that stays
usable. HTTP-level tests always run; the kubectl ones where kubectl is installed."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.k8s_emulator_fixtures import K8sEmulator

# What kubectl get sends.
TABLE = ",".join(
    (
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
        "application/json",
    )
)
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (Debian: kubernetes-client; or the upstream binary)"
)


class Connection:
    """One keep-alive HTTP/1.1 connection to the emulator, as kubectl's client keeps one."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.http = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Content-Type": "application/json", **(headers or {})}
        self.http.request(method, path, body=data, headers=sent)
        response = self.http.getresponse()
        raw = response.read()
        content_type = response.getheader("Content-Type", "")
        assert content_type.startswith("application/json"), (content_type, raw[:200])
        return response.status, dict(response.getheaders()), json.loads(raw)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def conn(k8s_emulator_process: K8sEmulator) -> Any:
    connection = Connection(k8s_emulator_process.url)
    yield connection
    connection.close()


def _pod(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "rdfox",
        "image": "example.test/reasons-for-an-hour:1",
        "command": ["/opt/RDFox/RDFox"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def _namespace() -> str:
    return f"kubectl-{uuid.uuid4().hex[:8]}"


def _wait_running(conn: Connection, namespace: str, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        _, _, pod = conn.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        if pod["status"].get("phase") == "Running" or time.monotonic() > deadline:
            return pod
        time.sleep(0.2)


# -- HTTP level: always run --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/apis/example.com/v1/widgets"),
        ("POST", "/apis/example.com/v1/namespaces/default/widgets"),
        ("GET", "/openapi/v2"),
        ("GET", "/no/such/thing"),
    ],
)
def test_unknown_path_is_a_status_404_and_the_connection_stays_usable(
    conn: Connection, method: str, path: str
) -> None:
    body = (
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        if method == "POST"
        else None
    )
    code, _, status = conn.request(method, path, body)
    assert code == 404
    assert status["kind"] == "Status" and status["apiVersion"] == "v1"
    assert status["status"] == "Failure" and status["reason"] == "NotFound" and status["code"] == 404
    # The same connection answers the next request: the unread body did not become a "request".
    code, _, version = conn.request("GET", "/version")
    assert code == 200 and version["major"] == "1"


def test_unsupported_method_is_a_status_too(k8s_emulator_process: K8sEmulator) -> None:
    parts = urlsplit(k8s_emulator_process.url)
    raw = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    raw.request("OPTIONS", "/api/v1/namespaces/default/pods")
    response = raw.getresponse()
    body = json.loads(response.read())
    raw.close()
    assert response.status in (405, 501)
    assert body["kind"] == "Status" and body["code"] == response.status


def test_pods_as_a_table_show_ready_status_restarts_and_age(conn: Connection) -> None:
    namespace = _namespace()
    code, _, _ = conn.request("POST", f"/api/v1/namespaces/{namespace}/pods", _pod("table-pod", namespace))
    assert code == 201
    try:
        pod = _wait_running(conn, namespace, "table-pod")
        assert pod["status"]["phase"] == "Running", pod["status"]
        code, _, table = conn.request(
            "GET", f"/api/v1/namespaces/{namespace}/pods", headers={"Accept": TABLE}
        )
        assert code == 200 and table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
        columns = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
        assert columns == ["Name", "Ready", "Status", "Restarts", "Age"]
        [row] = table["rows"]
        name, ready, status, restarts, age = row["cells"][:5]
        assert (name, ready, status, restarts) == ("table-pod", "1/1", "Running", 0)
        assert age.endswith("s") and int(age[:-1]) < 120, age
        assert row["object"]["kind"] == "PartialObjectMetadata"
        assert row["object"]["metadata"]["name"] == "table-pod"

        # One object as a Table, and the plain JSON for clients that do not ask for one.
        code, _, single = conn.request(
            "GET", f"/api/v1/namespaces/{namespace}/pods/table-pod", headers={"Accept": TABLE}
        )
        assert code == 200 and single["kind"] == "Table" and len(single["rows"]) == 1
        _, _, plain = conn.request("GET", f"/api/v1/namespaces/{namespace}/pods")
        assert plain["kind"] == "PodList"
    finally:
        conn.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/table-pod")


def test_namespaces_and_nodes_are_served(conn: Connection) -> None:
    namespace = _namespace()
    conn.request("POST", f"/api/v1/namespaces/{namespace}/secrets", {"metadata": {"name": "s"}, "data": {}})
    _, _, discovery = conn.request("GET", "/api/v1")
    resources = {r["name"]: r for r in discovery["resources"]}
    assert resources["namespaces"]["namespaced"] is False and resources["nodes"]["namespaced"] is False
    assert "po" in resources["pods"]["shortNames"]

    code, _, namespaces = conn.request("GET", "/api/v1/namespaces")
    assert code == 200 and namespaces["kind"] == "NamespaceList"
    names = {n["metadata"]["name"] for n in namespaces["items"]}
    assert {"default", "kube-system", namespace} <= names
    _, _, table = conn.request("GET", "/api/v1/namespaces", headers={"Accept": TABLE})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert [namespace, "Active"] in [row["cells"][:2] for row in table["rows"]]

    code, _, nodes = conn.request("GET", "/api/v1/nodes", headers={"Accept": TABLE})
    assert code == 200 and nodes["kind"] == "Table"
    assert nodes["rows"][0]["cells"][1] == "Ready"


def test_openapi_v3_offers_server_side_field_validation(conn: Connection) -> None:
    code, _, root = conn.request("GET", "/openapi/v3")
    assert code == 200 and {"api/v1", "apis/apps/v1", "apis/networking.k8s.io/v1"} <= set(root["paths"])
    code, _, doc = conn.request("GET", root["paths"]["api/v1"]["serverRelativeURL"])
    assert code == 200 and doc["openapi"].startswith("3.")
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][0].items()
    pod_schema = doc["components"]["schemas"]["V1Pod"]
    assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(pod_schema["properties"])


def test_strict_field_validation_refuses_an_unknown_field_naming_it(conn: Connection) -> None:
    namespace = _namespace()
    bad = _pod("typo", namespace)
    bad["spec"]["containers"][0]["imagePullPolice"] = "Always"
    path = f"/api/v1/namespaces/{namespace}/pods"
    code, _, status = conn.request("POST", f"{path}?fieldValidation=Strict", bad)
    assert code == 400 and status["kind"] == "Status" and status["reason"] == "BadRequest"
    assert 'unknown field "spec.containers[0].imagePullPolice"' in status["message"]
    code, _, _ = conn.request("GET", f"{path}/typo")
    assert code == 404  # nothing was created

    # Warn (the API server's default when asked for): created, the unknown field named in a Warning header.
    code, headers, _ = conn.request("POST", f"{path}?fieldValidation=Warn", bad)
    try:
        assert code == 201
        assert 'unknown field \\"spec.containers[0].imagePullPolice\\"' in headers.get("Warning", ""), headers
    finally:
        conn.request("DELETE", f"{path}/typo")


# -- kubectl: where installed ------------------------------------------------------------------------------


def _kubectl(emulator: K8sEmulator, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(emulator.kubeconfig)}
    return subprocess.run(
        [str(KUBECTL), *args], input=stdin, capture_output=True, text=True, timeout=60, env=env, check=False
    )


@needs_kubectl
def test_kubectl_apply_validates_and_get_pods_shows_the_columns(
    k8s_emulator_process: K8sEmulator, tmp_path: Path
) -> None:
    namespace = _namespace()
    manifest = tmp_path / "pod.json"
    manifest.write_text(json.dumps(_pod("kubectl-pod", namespace)))
    applied = _kubectl(k8s_emulator_process, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "pod/kubectl-pod created"
    try:
        conn = Connection(k8s_emulator_process.url)
        _wait_running(conn, namespace, "kubectl-pod")
        conn.close()
        listed = _kubectl(k8s_emulator_process, "get", "pods", "-n", namespace)
        assert listed.returncode == 0, listed.stderr
        header, row = listed.stdout.splitlines()
        assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert row.split()[:4] == ["kubectl-pod", "1/1", "Running", "0"]
        # Applying the same manifest again is a no-op patch, not an error.
        again = _kubectl(k8s_emulator_process, "apply", "-f", str(manifest))
        assert again.returncode == 0, again.stderr
    finally:
        _kubectl(k8s_emulator_process, "delete", "pod", "kubectl-pod", "-n", namespace, "--wait=false")


@needs_kubectl
def test_kubectl_apply_refuses_a_typo_naming_the_field(
    k8s_emulator_process: K8sEmulator, tmp_path: Path
) -> None:
    namespace = _namespace()
    pod = _pod("typo-pod", namespace)
    pod["spec"]["containers"][0]["comand"] = ["/opt/RDFox/RDFox"]
    manifest = tmp_path / "typo.json"
    manifest.write_text(json.dumps(pod))
    applied = _kubectl(k8s_emulator_process, "apply", "-f", str(manifest))
    assert applied.returncode != 0
    assert 'unknown field "spec.containers[0].comand"' in applied.stderr, applied.stderr
    assert "--validate=false" not in applied.stderr  # validation ran; it did not fail to start


@needs_kubectl
def test_kubectl_gets_namespaces_and_nodes(k8s_emulator_process: K8sEmulator) -> None:
    namespaces = _kubectl(k8s_emulator_process, "get", "namespaces")
    assert namespaces.returncode == 0, namespaces.stderr
    assert namespaces.stdout.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    assert any(line.split()[:2] == ["default", "Active"] for line in namespaces.stdout.splitlines())
    nodes = _kubectl(k8s_emulator_process, "get", "nodes")
    assert nodes.returncode == 0, nodes.stderr
    assert nodes.stdout.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes.stdout.splitlines()[1].split()[1] == "Ready"
    unknown = _kubectl(k8s_emulator_process, "get", "--raw", "/apis/example.com/v1/widgets")
    assert unknown.returncode != 0
    assert "(NotFound)" in unknown.stderr, unknown.stderr


def test_the_kubernetes_client_reads_the_node(k8s_emulator_process: K8sEmulator) -> None:
    """The pod operator reads the pod's node for its instance type (the record's worker_node_type): the
    Python client refuses a Node that lacks a field the API requires."""
    node = k8s_emulator_process.client().read_node("emulated-node")
    assert node.metadata.labels["node.kubernetes.io/instance-type"] == "emulated.local"
    assert node.status.node_info.kubelet_version.startswith("v1.")
