"""The Kubernetes emulator's server-side printing: the cells kubectl shows, as the API server prints them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rdfox_local.k8s_emulator.tables import human_duration, pod_status, table, wants_table

NOW = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(-5, "<invalid>"), (0, "0s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"),
     (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"), (3 * 365 * 86400, "3y")],
)  # fmt: skip
def test_ages_read_like_kubectl(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def _pod(phase: str, inits: list[dict[str, Any]] | None = None, mains: list[dict[str, Any]] | None = None,
         deleting: bool = False) -> dict[str, Any]:  # fmt: skip
    metadata: dict[str, Any] = {"name": "p", "creationTimestamp": "2026-01-31T11:59:00Z"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-31T12:00:00Z"
    return {
        "metadata": metadata,
        "spec": {
            "initContainers": [{"name": "prepare"}] * len(inits or []),
            "containers": [{"name": "rdfox"}],
        },
        "status": {"phase": phase, "initContainerStatuses": inits or [], "containerStatuses": mains or []},
    }


@pytest.mark.parametrize(
    ("pod", "status"),
    [
        (_pod("Pending", [{"state": {"running": {}}}]), "Init:0/1"),
        (_pod("Failed", [{"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]), "Init:Error"),
        (_pod("Pending", [], [{"state": {"waiting": {"reason": "ContainerCreating"}}}]), "ContainerCreating"),
        (_pod("Running", [], [{"state": {"running": {}}, "ready": True}]), "Running"),
        (
            _pod("Failed", [], [{"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]),
            "OOMKilled",
        ),
        (_pod("Failed", [], [{"state": {"terminated": {"exitCode": 2}}}]), "ExitCode:2"),
        (_pod("Running", [], [{"state": {"running": {}}, "ready": True}], deleting=True), "Terminating"),
        (
            _pod("Succeeded", [], [{"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}], True),
            "Completed",
        ),
    ],
)
def test_pod_status_column(pod: dict[str, Any], status: str) -> None:
    assert pod_status(pod) == status


def test_pod_table_rows_and_object_inclusion() -> None:
    pod = _pod("Running", [], [{"state": {"running": {}}, "ready": True, "restartCount": 2}])
    answer = table("Pod", [pod], resource_version="7", now=NOW)
    assert answer["rows"][0]["cells"][:5] == ["p", "1/1", "Running", 2, "60s"]
    assert answer["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]
    }  # fmt: skip
    assert "object" not in table("Pod", [pod], resource_version="7", include_object="None")["rows"][0]
    assert table("Pod", [pod], resource_version="7", include_object="Object")["rows"][0]["object"] == pod
    assert [c["name"] for c in table("Secret", [pod], resource_version="7")["columnDefinitions"]] == [
        "Name",
        "Age",
    ]


def test_only_table_requests_get_tables() -> None:
    assert wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert not wants_table("application/json")
    assert not wants_table(None)
