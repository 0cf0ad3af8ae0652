"""describe_pod_failure: one line saying why a pod failed, from the statuses Kubernetes reports."""

from __future__ import annotations

from kubernetes.client import models as k8s
from rdfox_pipeline.operators.rdfox_pod import describe_pod_failure


def _pod(**status: object) -> k8s.V1Pod:
    return k8s.V1Pod(status=k8s.V1PodStatus(**status))


def _terminated(name: str, code: int, reason: str) -> k8s.V1ContainerStatus:
    state = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=code, reason=reason))
    return k8s.V1ContainerStatus(name=name, state=state, image="i", image_id="", ready=False, restart_count=0)


def _waiting(name: str, reason: str, message: str) -> k8s.V1ContainerStatus:
    state = k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason=reason, message=message))
    return k8s.V1ContainerStatus(name=name, state=state, image="i", image_id="", ready=False, restart_count=0)


def test_first_failed_container_wins_init_before_main() -> None:
    pod = _pod(
        phase="Failed",
        init_container_statuses=[
            _terminated("prepare", 0, "Completed"),
            _terminated("rdfox", 137, "OOMKilled"),
        ],
        container_statuses=[_waiting("base", "PodInitializing", "")],
    )
    assert describe_pod_failure(pod, "x") == "container rdfox exited with status 137 (OOMKilled)"


def test_image_pull_error() -> None:
    pod = _pod(
        phase="Pending", container_statuses=[_waiting("base", "ImagePullBackOff", "Back-off pulling image")]
    )
    assert (
        describe_pod_failure(pod, "x")
        == "container base could not start (ImagePullBackOff: Back-off pulling image)"
    )


def test_unschedulable() -> None:
    condition = k8s.V1PodCondition(
        type="PodScheduled", status="False", reason="Unschedulable", message="0/3 nodes are available"
    )
    pod = _pod(phase="Pending", conditions=[condition])
    assert (
        describe_pod_failure(pod, "x")
        == "pod could not be scheduled (Unschedulable: 0/3 nodes are available)"
    )


def test_pod_level_reason_and_fallback() -> None:
    pod = _pod(phase="Failed", reason="DeadlineExceeded", message="Pod was active too long")
    assert describe_pod_failure(pod, "x") == "pod Failed: DeadlineExceeded Pod was active too long"
    assert describe_pod_failure(None, "the operator's message") == "the operator's message"
    assert describe_pod_failure(_pod(phase="Running"), "fallback") == "fallback"


def test_a_log_tail_termination_message_gives_its_last_line() -> None:
    # FallbackToLogsOnError (prepare): the message is the container's last log lines; the error is the last.
    state = k8s.V1ContainerState(
        terminated=k8s.V1ContainerStateTerminated(
            exit_code=1,
            reason="Error",
            message="prepare: ignoring 'a.txt'\nprepare: error: s3://b/DS/ is empty\n",
        )
    )
    status = k8s.V1ContainerStatus(
        name="prepare", state=state, image="i", image_id="", ready=False, restart_count=0
    )
    pod = _pod(phase="Failed", init_container_statuses=[status])
    assert describe_pod_failure(pod, "x") == (
        "container prepare exited with status 1 (Error): prepare: error: s3://b/DS/ is empty"
    )
