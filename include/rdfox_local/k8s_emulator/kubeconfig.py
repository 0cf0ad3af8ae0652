"""A kubeconfig for the emulator, and the Airflow ``kubernetes_default`` connection that uses it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

CONTEXT = "rdfox-k8s-emulator"


def kubeconfig(server_url: str, namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server_url}}],
        "users": [{"name": CONTEXT, "user": {}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, server_url: str, namespace: str = "default") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(server_url, namespace), sort_keys=False), encoding="utf-8")
    return path


def airflow_connection_json(kubeconfig_path: Path, namespace: str | None = None) -> str:
    """The value for AIRFLOW_CONN_KUBERNETES_DEFAULT: a kubeconfig file, not in-cluster."""
    extra: dict[str, object] = {"kube_config_path": str(kubeconfig_path), "in_cluster": False}
    if namespace:
        extra["namespace"] = namespace
    return json.dumps({"conn_type": "kubernetes", "extra": extra})
