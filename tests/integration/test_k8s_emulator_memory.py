"""The Kubernetes emulator's memory limit, as a kubelet enforces it: over the limit is OOMKilled, however
briefly (a cgroup kills at the allocation; the emulator polls, so it must also check the peak afterwards)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.integration.k8s_emulator_fixtures import K8sEmulator


def _run_pod(emulator: K8sEmulator, image: str, memory_limit: str) -> Any:
    api = emulator.client()
    name = f"memory-{uuid.uuid4().hex[:8]}"
    api.create_namespaced_pod(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "main", "image": image, "resources": {"limits": {"memory": memory_limit}}}
                ],
            },
        },
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pod = api.read_namespaced_pod(name, "default")
        if pod.status.phase in ("Succeeded", "Failed"):
            api.delete_namespaced_pod(name, "default")
            return pod
        time.sleep(0.2)
    raise AssertionError(f"pod {name} did not finish: {pod.status}")


def test_a_burst_over_the_limit_between_polls_is_oom_killed(k8s_emulator_process: K8sEmulator) -> None:
    pod = _run_pod(k8s_emulator_process, "example.test/memory-burst:1", "32Mi")
    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Failed"
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)


def test_the_same_burst_under_a_larger_limit_succeeds(k8s_emulator_process: K8sEmulator) -> None:
    pod = _run_pod(k8s_emulator_process, "example.test/memory-burst:1", "512Mi")
    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Succeeded"
    assert (terminated.reason, terminated.exit_code) == ("Completed", 0)
