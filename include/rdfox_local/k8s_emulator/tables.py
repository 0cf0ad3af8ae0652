"""Server-side printing: the ``Table`` answers ``kubectl get`` asks for (``Accept: ...;as=Table;...``).

The columns and cell values follow the API server's own printers (pkg/printers/internalversion), so that
``kubectl get pods`` shows READY, STATUS, RESTARTS and AGE as on a real cluster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Column = tuple[str, str, str, int]  # name, type, description, priority (1: only with -o wide)

_NAME: Column = ("Name", "string", "Name must be unique within a namespace.", 0)
_AGE: Column = ("Age", "string", "Time since the object was created.", 0)
COLUMNS: dict[str, tuple[Column, ...]] = {
    "Pod": (
        _NAME,
        ("Ready", "string", "The number of containers ready out of all containers.", 0),
        ("Status", "string", "The aggregate status of the containers in this pod.", 0),
        ("Restarts", "string", "The number of times the containers in this pod have been restarted.", 0),
        _AGE,
        ("IP", "string", "The IP address assigned to the pod.", 1),
        ("Node", "string", "The node the pod is scheduled on.", 1),
    ),
    "Namespace": (_NAME, ("Status", "string", "The phase of the namespace.", 0), _AGE),
    "Node": (
        _NAME,
        ("Status", "string", "The status of the node.", 0),
        ("Roles", "string", "The roles of the node.", 0),
        _AGE,
        ("Version", "string", "Kubelet version.", 0),
        ("Internal-IP", "string", "The node's internal IP address.", 1),
    ),
}
DEFAULT_COLUMNS: tuple[Column, ...] = (_NAME, _AGE)


def wants_table(accept: str | None) -> bool:
    """True if the client asked for a meta.k8s.io Table (kubectl get does; API clients do not)."""
    return any("as=Table" in part for part in (accept or "").split(","))


def human_duration(seconds: float) -> str:
    """The API server's duration.HumanDuration: 45s, 3m20s, 5h, 2d3h, 400d ..."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    days = hours // 24
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def age(obj: Mapping[str, Any], now: dt.datetime) -> str:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    when = dt.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    return human_duration((now - when).total_seconds())


def pod_status(pod: Mapping[str, Any]) -> str:
    """The STATUS column: the phase, refined by init containers, container states and deletion."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    inits = status.get("initContainerStatuses") or []
    initializing = False
    for index, container in enumerate(inits):
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        initializing = True
        if terminated:
            reason = "Init:" + (terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(spec.get('initContainers') or inits)}"
        break
    if not initializing:
        running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode')}"
            elif "running" in state and container.get("ready"):
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if (pod.get("metadata") or {}).get("deletionTimestamp") and status.get("phase") not in (
        "Succeeded",
        "Failed",
    ):
        reason = "Terminating"
    return str(reason)


def _pod_cells(pod: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(spec.get('containers') or containers)}",
        pod_status(pod),
        restarts,
        age(pod, now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
    ]


def _node_cells(node: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    status = node.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    version = (status.get("nodeInfo") or {}).get("kubeletVersion") or "<none>"
    return [
        node["metadata"]["name"],
        "Ready" if ready else "NotReady",
        "<none>",
        age(node, now),
        version,
        addresses.get("InternalIP") or "<none>",
    ]


def _namespace_cells(namespace: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    return [
        namespace["metadata"]["name"],
        (namespace.get("status") or {}).get("phase", "Active"),
        age(namespace, now),
    ]


def _default_cells(obj: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    return [obj["metadata"]["name"], age(obj, now)]


CELLS: dict[str, Callable[[Mapping[str, Any], dt.datetime], list[Any]]] = {
    "Pod": _pod_cells,
    "Node": _node_cells,
    "Namespace": _namespace_cells,
}


def _row_object(obj: Mapping[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return dict(obj)
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def table(
    kind: str,
    objects: Sequence[Mapping[str, Any]],
    *,
    resource_version: str,
    include_object: str = "Metadata",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of ``objects`` (all of ``kind``); ``include_object``: None, Metadata, Object."""
    now = now or dt.datetime.now(dt.UTC)
    columns = COLUMNS.get(kind, DEFAULT_COLUMNS)
    cells = CELLS.get(kind, _default_cells)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(obj, now)[: len(columns)]}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": type_,
                "format": "name" if name == "Name" else "",
                "description": description,
                "priority": priority,
            }
            for name, type_, description, priority in columns
        ],
        "rows": rows,
    }
