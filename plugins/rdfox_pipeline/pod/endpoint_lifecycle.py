"""Start, count, delete and reap kept RDFox endpoints: the pod with its own Secret and NetworkPolicy.

One code path for the pipeline's pod operator and the ``rdfox-pipeline endpoint`` verbs. The Secret (a
random role and password drawn here, never logged or returned) and the NetworkPolicy that come with each
endpoint pod are owner-referenced to it, so Kubernetes' garbage collector deletes them with the pod whoever
deletes it; ``delete_endpoint`` deletes them itself too, for a cluster whose collector lags.

``core`` is a kubernetes ``CoreV1Api``, ``networking`` a ``NetworkingV1Api`` (duck-typed: tests pass the
real clients bound to the Kubernetes emulator).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rdfox_pipeline.domain.settings import Settings
from rdfox_pipeline.pod.endpoint import (
    ANNOTATION_EXPIRES,
    build_endpoint_network_policy,
    build_endpoint_secret,
)

ENDPOINT_SELECTOR = "app.kubernetes.io/name=rdfox-pipeline,app.kubernetes.io/component=endpoint"
_ENDED_PHASES = frozenset({"Succeeded", "Failed"})


class EndpointCapReached(RuntimeError):
    """RDFOX_MAX_ENDPOINTS endpoints are alive already: no new one may start."""


class EndpointAlreadyRunning(RuntimeError):
    """The job's endpoint is up already."""


@dataclass(frozen=True)
class StartedEndpoint:
    name: str  # the pod's, its Secret's and its NetworkPolicy's
    namespace: str
    expires_at: str

    def password_command(self) -> str:
        """How an investigator reads the password (it is never printed or recorded by the pipeline)."""
        return (
            f"kubectl get secret -n {self.namespace} {self.name} -o jsonpath='{{.data.password}}' | base64 -d"
        )


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status", None)


def _phase(pod: Any) -> str | None:
    return getattr(getattr(pod, "status", None), "phase", None)


def alive_endpoints(core: Any, namespace: str) -> list[str]:
    """Names of the endpoint pods that have not ended (batch pods are not endpoints and never count)."""
    pods = core.list_namespaced_pod(namespace, label_selector=ENDPOINT_SELECTOR).items
    return sorted(
        pod.metadata.name
        for pod in pods
        if _phase(pod) not in _ENDED_PHASES and not pod.metadata.deletion_timestamp
    )


def check_endpoint_cap(core: Any, namespace: str, settings: Settings) -> None:
    """Raise EndpointCapReached when RDFOX_MAX_ENDPOINTS endpoints are alive in the namespace."""
    cap = settings.rdfox_max_endpoints
    alive = alive_endpoints(core, namespace)
    if len(alive) >= cap:
        raise EndpointCapReached(
            f"rdfox.keep_endpoint: {len(alive)} kept RDFox endpoint(s) are alive in namespace {namespace} "
            f"and the RDFOX_MAX_ENDPOINTS cap is {cap}; end one with `rdfox-pipeline endpoint delete "
            f"JOB_ID` (or wait for its TTL) and run the job again"
        )


def _clear_ended(core: Any, networking: Any, namespace: str, name: str) -> None:
    """Make way for the job's endpoint: an ended one of the same job is deleted, a live one refuses."""
    try:
        pod = core.read_namespaced_pod(name, namespace)
    except Exception as exc:
        if _status(exc) != 404:
            raise
        pod = None
    if pod is not None and _phase(pod) not in _ENDED_PHASES:
        raise EndpointAlreadyRunning(
            f"the endpoint of this job already runs ({namespace}/{name}); end it first with "
            f"`rdfox-pipeline endpoint delete JOB_ID`"
        )
    # An ended pod, or what a failed start left behind: all of it is this job's, by its name.
    delete_endpoint(core, networking, namespace, name)


def _owner_reference(pod: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid}


def start_endpoint(
    core: Any,
    networking: Any,
    manifest: dict[str, Any],
    settings: Settings,
) -> StartedEndpoint:
    """Check the cap, then create Secret, NetworkPolicy and pod; on failure nothing of it is left."""
    meta = manifest["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    _clear_ended(core, networking, namespace, name)
    check_endpoint_cap(core, namespace, settings)
    # The policy first: the pod is never up without it. The Secret after the pod, born owned by it: the
    # pipeline then needs no patch (which returns the object, so reads it) on Secrets, and the kubelet
    # starts RDFox once it exists (the fetch init container runs first anyway).
    networking.create_namespaced_network_policy(namespace, build_endpoint_network_policy(manifest, settings))
    try:
        pod = core.create_namespaced_pod(namespace, manifest)
    except Exception:
        _delete_companions(core, networking, namespace, name)
        raise
    owner = [_owner_reference(pod)]
    role = f"rdfox-{secrets.token_hex(4)}"
    secret = build_endpoint_secret(manifest, role=role, password=secrets.token_urlsafe(24))
    secret["metadata"]["ownerReferences"] = owner
    try:
        core.create_namespaced_secret(namespace, secret)
        networking.patch_namespaced_network_policy(name, namespace, {"metadata": {"ownerReferences": owner}})
    except Exception:
        delete_endpoint(core, networking, namespace, name)
        raise
    return StartedEndpoint(name, namespace, meta["annotations"][ANNOTATION_EXPIRES])


def _ignore_missing(call: Callable[[], Any]) -> bool:
    """Run a delete; False when the object was not there (404), True when it was deleted."""
    try:
        call()
    except Exception as exc:
        if _status(exc) == 404:
            return False
        raise
    return True


def _delete_companions(core: Any, networking: Any, namespace: str, name: str) -> None:
    _ignore_missing(lambda: core.delete_namespaced_secret(name, namespace))
    _ignore_missing(lambda: networking.delete_namespaced_network_policy(name, namespace))


def delete_endpoint(core: Any, networking: Any, namespace: str, name: str) -> bool:
    """Delete the endpoint pod and its Secret and NetworkPolicy; False when no such pod existed."""
    existed = _ignore_missing(lambda: core.delete_namespaced_pod(name, namespace))
    _delete_companions(core, networking, namespace, name)
    return existed


def reap_endpoints(core: Any, networking: Any, namespace: str, now: datetime) -> list[str]:
    """Delete every endpoint pod that ended (its TTL, ``activeDeadlineSeconds``, ends it as Failed) or is
    past its expiry annotation, with its Secret and NetworkPolicy; the names deleted."""
    reaped = []
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")  # the annotation's own format: compares as text
    for pod in core.list_namespaced_pod(namespace, label_selector=ENDPOINT_SELECTOR).items:
        expires = (pod.metadata.annotations or {}).get(ANNOTATION_EXPIRES)
        if _phase(pod) in _ENDED_PHASES or (expires and expires <= stamp):
            delete_endpoint(core, networking, namespace, pod.metadata.name)
            reaped.append(pod.metadata.name)
    return sorted(reaped)
