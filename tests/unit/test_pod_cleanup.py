"""RdfoxPodOperator's end-of-task rules: which pods it deletes, which init container logs it writes."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import models as k8s
from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator, _init_containers_that_ran

pytestmark = pytest.mark.compat  # the provider's cleanup hooks must exist under MWAA's Airflow too


def _status(name: str, state: k8s.V1ContainerState) -> k8s.V1ContainerStatus:
    return k8s.V1ContainerStatus(name=name, state=state, image="i", image_id="", ready=False, restart_count=0)


WAITING = k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason="ErrImagePull", message="no x:9"))
DONE = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=0, reason="Completed"))
FAILED = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=1, reason="Error"))


def _pod(phase: str, *init: k8s.V1ContainerStatus) -> k8s.V1Pod:
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="job-pod-abc", namespace="rdfox"),
        spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name="base")],
            init_containers=[k8s.V1Container(name="prepare"), k8s.V1Container(name="rdfox")],
        ),
        status=k8s.V1PodStatus(phase=phase, init_container_statuses=list(init) or None),
    )


class _PodManager:
    """The cluster as the operator's pod manager sees it: one pod, and the deletions asked for."""

    def __init__(self, pod: k8s.V1Pod) -> None:
        self.pod = pod
        self.deleted: list[str] = []

    def read_pod(self, _pod: Any) -> k8s.V1Pod:
        return self.pod

    def delete_pod(self, pod: k8s.V1Pod) -> None:
        self.deleted.append(pod.metadata.name)


class _Records:
    """The job record writes the operator makes; ``fail`` makes them raise (DynamoDB unreachable)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.writes: list[dict[str, Any]] = []

    def record_status(self, job_id: str, status: str, **fields: Any) -> None:
        if self.fail:
            raise ConnectionError("DynamoDB unreachable")
        self.writes.append({"job_id": job_id, "status": status, **fields})


def _operator(
    cluster_pod: k8s.V1Pod, records: _Records | None = None, **kwargs: Any
) -> tuple[RdfoxPodOperator, _PodManager]:
    op = RdfoxPodOperator(task_id="reason", registration={"job_id": "DS_2024-05-01_000"}, **kwargs)
    manager = _PodManager(cluster_pod)
    op.__dict__["pod_manager"] = manager  # the provider's cached_property
    hook = records or _Records()
    op._hook = lambda: hook  # type: ignore[method-assign]
    return op, manager


def test_a_pod_still_pending_at_the_end_is_deleted_even_if_the_callers_copy_says_otherwise() -> None:
    op, manager = _operator(_pod("Pending", _status("prepare", WAITING)))
    assert op.process_pod_deletion(_pod("Failed"), reraise=True) is True
    assert manager.deleted == ["job-pod-abc"]
    assert op._deleted_pending_pod == "job-pod-abc"


def test_failed_pods_are_kept_succeeded_ones_deleted_keep_pod_keeps_everything() -> None:
    op, manager = _operator(_pod("Failed", _status("prepare", FAILED)))
    assert op.process_pod_deletion(_pod("Pending"), reraise=True) is False
    op, manager2 = _operator(_pod("Succeeded", _status("prepare", DONE)))
    assert op.process_pod_deletion(_pod("Pending"), reraise=True) is True
    op, manager3 = _operator(_pod("Pending", _status("prepare", WAITING)), on_finish_action="keep_pod")
    assert op.process_pod_deletion(_pod("Pending"), reraise=True) is False
    assert (manager.deleted, manager2.deleted, manager3.deleted) == ([], ["job-pod-abc"], [])
    assert op._deleted_pending_pod is None


def test_init_container_logs_default_to_all_and_only_containers_that_ran_are_read() -> None:
    op, _ = _operator(_pod("Pending"))
    assert op.init_container_logs is True
    pod = _pod("Pending", _status("prepare", DONE), _status("rdfox", WAITING))
    assert _init_containers_that_ran(pod, True) == ["prepare"]
    assert _init_containers_that_ran(pod, "rdfox") == []
    failed = _pod("Failed", _status("prepare", FAILED))
    assert _init_containers_that_ran(failed, ["prepare", "rdfox"]) == ["prepare"]
    assert _init_containers_that_ran(_pod("Pending", _status("prepare", WAITING)), True) == []


def test_a_succeeded_pod_is_recorded_before_it_is_deleted_and_kept_when_that_fails() -> None:
    # A later try knows the job's pod succeeded from this record alone once the pod is gone (scenario 3).
    records = _Records()
    op, manager = _operator(_pod("Succeeded", _status("prepare", DONE)), records)
    assert op.process_pod_deletion(_pod("Succeeded"), reraise=True) is True
    assert records.writes == [
        {"job_id": "DS_2024-05-01_000", "status": "SCHEDULED", "pod_succeeded": "job-pod-abc"}
    ]
    assert manager.deleted == ["job-pod-abc"]
    op, manager = _operator(_pod("Succeeded", _status("prepare", DONE)), _Records(fail=True))
    assert op.process_pod_deletion(_pod("Succeeded"), reraise=True) is False
    assert manager.deleted == []
