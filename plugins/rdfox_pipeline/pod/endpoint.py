"""The kept-up RDFox endpoint (the old ``AUTO_SHUTDOWN=False``): a pod of its own, for investigators.

After a job's pod has published its outputs, an optional second pod loads those published answers into RDFox
and serves RDFox's REST endpoint. It belongs to no Airflow task (no worker slot is held while it is up) and
Kubernetes itself ends it after the TTL (``activeDeadlineSeconds``); ``rdfox-pipeline endpoint delete`` ends
it earlier. Pure: the manifest is a function of (jobspec, job id, settings, now).

Access: each endpoint has its own role and random password, in a Secret of the same name as the pod
(``build_endpoint_secret``; created, owner-referenced to the pod and deleted with it by
``pod/endpoint_lifecycle.py``), and a NetworkPolicy of that name admits connections only from the
RDFOX_ENDPOINT_CLIENT_NAMESPACE namespace (none when unset: ``kubectl port-forward`` only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rdfox_pipeline.domain.jobspec import JobSpec
from rdfox_pipeline.domain.settings import Settings
from rdfox_pipeline.pod.manifest import (
    ANNOTATION_JOB_ID,
    DATA_DIR,
    RDFOX_BINARY,
    SCRIPTS_DIR,
    STEP_RESOURCES,
    TMP_DIR,
    _container_security,
    _env,
    _mounts,
    _pick,
    _resources,
    container_storage,
    empty_dirs,
    job_labels,
    pod_security_context,
    rdfox_license_env,
    volume_limits,
)
from rdfox_pipeline.pod.names import endpoint_pod_name_for

COMPONENT = "endpoint"
ANNOTATION_EXPIRES = "rdfox-pipeline/expires-at"
ENDPOINT_SCRIPT = f"{SCRIPTS_DIR}/endpoint.rdfox"
ENDPOINT_CONTAINER = "rdfox"
ENDPOINT_VOLUMES = ("data", "scripts", "tmp")
ROLE_KEY = "role"
PASSWORD_KEY = "password"  # noqa: S105 - a key name, not a secret  # nosec B105


def endpoint_pod_name(job_id: str) -> str:
    """The endpoint pod's name (also its Secret's and NetworkPolicy's): unique per exact job id."""
    return endpoint_pod_name_for(job_id)


def _credential_env(var: str, secret: str, key: str) -> dict[str, Any]:
    # Not optional: an endpoint on the network must never start without access control.
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": False}}}


def endpoint_ttl_hours(jobspec: JobSpec, settings: Settings) -> int:
    return int(_pick(jobspec.rdfox.endpoint_ttl_hours, settings.rdfox_endpoint_ttl_hours))


def build_endpoint_manifest(
    jobspec: JobSpec, job_id: str, settings: Settings, *, now: datetime, ttl_seconds: int | None = None
) -> dict[str, Any]:
    """The endpoint pod of a job whose outputs are published; ``now`` (aware) dates its expiry."""
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    ttl = ttl_seconds if ttl_seconds is not None else endpoint_ttl_hours(jobspec, settings) * 3600
    if ttl < 1:
        raise ValueError(f"endpoint TTL must be at least 1 second, got {ttl}")
    output_bucket = _pick(jobspec.output_bucket, settings.output_bucket)
    if output_bucket is None:
        raise ValueError("output_bucket: not in the jobspec and the OUTPUT_BUCKET setting is not configured")
    namespace = _pick(jobspec.kubernetes.namespace, settings.kubernetes_namespace)
    port = jobspec.rdfox.port
    region = settings.aws_default_region
    expires = (now + timedelta(seconds=ttl)).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = endpoint_pod_name(job_id)
    limits = volume_limits(settings, ENDPOINT_VOLUMES)
    storage = container_storage(limits)

    fetch = {
        "name": "fetch",
        "image": _pick(jobspec.images.prepare, settings.prepare_image),
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "rdfox_local.steps.endpoint"],
        "env": _env(
            OUTPUT_BUCKET=output_bucket,
            DATASET=jobspec.dataset,
            JOB_ID=job_id,
            DATA_DIR=DATA_DIR,
            SCRIPTS_DIR=SCRIPTS_DIR,
            AWS_DEFAULT_REGION=region,
            AWS_REGION=region,
            HOME=TMP_DIR,
        ),
        "resources": _resources(**STEP_RESOURCES, storage=storage),
        "securityContext": _container_security(),
        "volumeMounts": _mounts("data", "scripts", "tmp"),
    }
    rdfox = {
        "name": ENDPOINT_CONTAINER,
        "image": _pick(jobspec.images.rdfox, settings.rdfox_image),
        "imagePullPolicy": "IfNotPresent",
        # No shell needed: RDFox runs the script, starts the endpoint and keeps reading its open stdin.
        "command": [RDFOX_BINARY, "-port", str(port), "sandbox", DATA_DIR, f"exec {ENDPOINT_SCRIPT}"],
        "stdin": True,
        "env": [
            rdfox_license_env(jobspec, settings),
            _credential_env("RDFOX_ROLE", name, ROLE_KEY),
            _credential_env("RDFOX_PASSWORD", name, PASSWORD_KEY),
            *_env(HOME=TMP_DIR),
        ],
        "ports": [{"name": "rdfox", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10},
        "resources": _resources(str(jobspec.resources.cores), jobspec.resources.memory, storage),
        "securityContext": _container_security(),
        "volumeMounts": _mounts("data", "scripts", "tmp", read_only=("scripts",)),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": job_labels(jobspec, job_id, COMPONENT),
            "annotations": {ANNOTATION_JOB_ID: job_id, ANNOTATION_EXPIRES: expires},
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": ttl,  # the TTL, enforced by Kubernetes: nothing of ours must stay up
            "serviceAccountName": _pick(jobspec.kubernetes.service_account, settings.service_account),
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security_context(),
            "initContainers": [fetch],
            "containers": [rdfox],
            "volumes": empty_dirs(limits),
        },
    }


def build_endpoint_secret(pod: dict[str, Any], *, role: str, password: str) -> dict[str, Any]:
    """The endpoint's own credentials, named and labelled as its pod (the caller draws them at random)."""
    meta = pod["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict(meta["labels"]),
            "annotations": {ANNOTATION_JOB_ID: meta["annotations"][ANNOTATION_JOB_ID]},
        },
        "type": "Opaque",
        "immutable": True,
        "stringData": {ROLE_KEY: role, PASSWORD_KEY: password},
    }


def build_endpoint_network_policy(pod: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Ingress to the endpoint pod: its RDFox port from the configured namespace's pods, nothing else.

    ``kubectl port-forward`` goes through the kubelet into the pod's own network namespace, which no
    NetworkPolicy filters: it stays the way in for investigators (with RBAC on ``pods/portforward``).
    """
    meta = pod["metadata"]
    port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
    ingress: list[dict[str, Any]] = []
    if settings.rdfox_endpoint_client_namespace:
        source = {"kubernetes.io/metadata.name": settings.rdfox_endpoint_client_namespace}
        ingress.append(
            {
                "from": [{"namespaceSelector": {"matchLabels": source}}],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": dict(meta["labels"])},
        "spec": {
            "podSelector": {"matchLabels": dict(meta["labels"])},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }
