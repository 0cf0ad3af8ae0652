"""pod_has_failed: the pod's own failure (INFERENCE_FAILED) or the task's (retried); issue 13, scenario 8."""

from __future__ import annotations

import pytest
from kubernetes.client import models as k8s
from rdfox_pipeline.operators.rdfox_pod import pod_has_failed

pytestmark = pytest.mark.compat


def _status(name: str, state: k8s.V1ContainerState) -> k8s.V1ContainerStatus:
    return k8s.V1ContainerStatus(name=name, state=state, image="i", image_id="", ready=False, restart_count=0)


def _pod(phase: str, init: list | None = None, main: list | None = None, conditions: list | None = None):
    return k8s.V1Pod(
        status=k8s.V1PodStatus(
            phase=phase, init_container_statuses=init, container_statuses=main, conditions=conditions
        )
    )


RUNNING = k8s.V1ContainerState(running=k8s.V1ContainerStateRunning())
DONE = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=0, reason="Completed"))
FAILED = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=1, reason="Error"))
PULL = k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff", message="no x:9"))
INIT = k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason="PodInitializing"))
UNSCHEDULABLE = k8s.V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable", message="cpu")


@pytest.mark.parametrize(
    "pod",
    [
        _pod("Failed"),  # e.g. evicted: no container status says more
        _pod("Failed", init=[_status("prepare", DONE), _status("rdfox", FAILED)]),
        _pod("Running", main=[_status("base", FAILED)]),  # seen just before the phase changes
        _pod("Pending", init=[_status("prepare", PULL)]),
        _pod("Pending", conditions=[UNSCHEDULABLE]),
    ],
)
def test_the_pods_own_failures(pod: k8s.V1Pod) -> None:
    assert pod_has_failed(pod)


@pytest.mark.parametrize(
    "pod",
    [
        None,  # the error came before the pod existed (SSM, EKS, the API, a quota)
        _pod("Pending", init=[_status("prepare", RUNNING)], main=[_status("base", INIT)]),
        _pod(
            "Running",
            init=[_status("prepare", DONE), _status("rdfox", DONE)],
            main=[_status("base", RUNNING)],
        ),
        _pod("Succeeded", init=[_status("prepare", DONE)], main=[_status("base", DONE)]),
    ],
)
def test_not_the_pods_failure(pod: k8s.V1Pod | None) -> None:
    assert not pod_has_failed(pod)
