"""The Kubernetes API emulator as its own process, a kubeconfig for it, and Airflow's kubernetes_default."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, free_port, start_process, stop_process, wait_for_http

SHIPPED_IMAGE_MAP = REPO_ROOT / "include" / "rdfox_local" / "k8s_emulator" / "image-map.yaml"
TEST_IMAGE_MAP = Path(__file__).parent / "pod_fixtures" / "image-map.yaml"


@dataclass(frozen=True)
class K8sEmulator:
    url: str
    kubeconfig: Path
    state_dir: Path
    secrets_dir: Path

    def client(self) -> Any:
        """A kubernetes CoreV1Api bound to this emulator (no global config touched)."""
        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        return client.CoreV1Api(api_client)

    def audit(self) -> list[dict[str, Any]]:
        path = self.state_dir / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def connection_json(self) -> str:
        return json.dumps(
            {
                "conn_type": "kubernetes",
                "extra": {"kube_config_path": str(self.kubeconfig), "in_cluster": False},
            }
        )


@pytest.fixture(scope="session")
def k8s_emulator_process(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> Iterator[K8sEmulator]:
    """One emulator per test session; pods reach moto through the image map's injected AWS_ENDPOINT_URL."""
    root = tmp_path_factory.mktemp("k8s-emulator")
    port = free_port()
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server}
    secrets, state, kubeconfig = root / "secrets", root / "state", root / "kubeconfig.yaml"
    proc = start_process(
        [
            sys.executable,
            "-m",
            "rdfox_local.k8s_emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--image-map",
            str(SHIPPED_IMAGE_MAP),
            "--image-map",
            str(TEST_IMAGE_MAP),
            "--secrets-dir",
            str(secrets),
            "--state-dir",
            str(state),
            "--kubeconfig-out",
            str(kubeconfig),
        ],
        root / "emulator.log",
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/version", proc=proc)
        yield K8sEmulator(url, kubeconfig, state, secrets)
    finally:
        stop_process(proc)


@pytest.fixture
def k8s_emulator(k8s_emulator_process: K8sEmulator, monkeypatch: pytest.MonkeyPatch) -> K8sEmulator:
    """The emulator, with AIRFLOW_CONN_KUBERNETES_DEFAULT and KUBECONFIG pointing at it for this test."""
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", k8s_emulator_process.connection_json())
    monkeypatch.setenv("KUBECONFIG", str(k8s_emulator_process.kubeconfig))
    return k8s_emulator_process
