"""Which earlier pod a try of ``reason`` goes on with, and what the record and log say once it is gone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes.client import models as k8s
from rdfox_pipeline.operators.pod_takeover import job_pod_selector, outcome_without_pod, pick_earlier_pod

pytestmark = pytest.mark.compat

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
GOOD_LOG = (LOGS / "rdfox7-success.log").read_text()
BAD_LOG = (LOGS / "rdfox7-error.log").read_text()


def _pod(name: str, phase: str, minute: int) -> k8s.V1Pod:
    created = datetime(2024, 5, 1, 12, minute, tzinfo=UTC)
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, creation_timestamp=created), status=k8s.V1PodStatus(phase=phase)
    )


def test_succeeded_before_live_before_failed_newest_first() -> None:
    failed, running, done, older_done = (
        _pod("f", "Failed", 9), _pod("r", "Running", 8), _pod("s", "Succeeded", 5), _pod("o", "Succeeded", 1)
    )  # fmt: skip
    assert pick_earlier_pod([failed, running, older_done, done]) is done
    assert pick_earlier_pod([failed, running]) is running
    assert pick_earlier_pod([_pod("p", "Pending", 1), failed]).metadata.name == "p"
    assert pick_earlier_pod([failed]) is failed
    assert pick_earlier_pod([]) is None


def test_selector_is_the_job_and_component_labels_only() -> None:
    labels = {"rdfox-pipeline/job-id": "DS_2024-05-01_000", "app.kubernetes.io/component": "reasoning",
              "try_number": "1", "run_id": "manual__x"}  # fmt: skip
    assert job_pod_selector(labels) == (
        "rdfox-pipeline/job-id=DS_2024-05-01_000,app.kubernetes.io/component=reasoning"
    )


def test_outcome_without_pod() -> None:
    uri = "s3://out/DS/DS_2024-05-01_000/rdfox.log"
    logs = {uri: GOOD_LOG}
    read = logs.get
    # Nothing ran before (first try), or no log URI: a pod is to be created.
    assert outcome_without_pod({"job_status": "CREATED"}, uri, read) is None
    assert outcome_without_pod(None, uri, read) is None
    # Recorded as succeeded, log there: done.
    done = outcome_without_pod({"pod_name": "p1", "pod_succeeded": "p1"}, uri, read)
    assert done is not None and done.succeeded and done.pod_name == "p1"
    # Recorded as succeeded but the log was removed: refused, never rerun.
    with pytest.raises(ValueError, match=r"pod p1 succeeded, but its published s3://.* is gone"):
        outcome_without_pod({"pod_name": "p1", "pod_succeeded": "p1"}, uri, {}.get)
    # Created but never recorded as ended: the published log decides; no log -> it never ended.
    assert outcome_without_pod({"pod_name": "p1"}, uri, read).succeeded
    assert outcome_without_pod({"pod_name": "p1"}, uri, {}.get) is None
    failed = outcome_without_pod({"pod_name": "p1"}, uri, {uri: BAD_LOG}.get)
    assert failed is not None and not failed.succeeded
    assert failed.reason == "pod p1 is gone; its published rdfox.log failed"
