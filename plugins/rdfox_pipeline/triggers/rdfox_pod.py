"""The pod triggers of ``RdfoxPodOperator``: the provider's, plus a watch on the *init* containers.

Why: the RDFox pod does its work in init containers (prepare, rdfox), so it stays ``Pending`` for the whole
reasoning, and the operator's startup timeout must be as long as the reasoning may take. The provider fails
fast on image pull errors of the main containers only; without this watch an init container whose image
cannot be pulled would be waited on until that long timeout. The watch ends the wait with a ``timeout``
event naming the problem (the operator then fails the task and records INFERENCE_FAILED).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from airflow.providers.amazon.aws.triggers.eks import EksPodTrigger
from airflow.providers.cncf.kubernetes.triggers.pod import KubernetesPodTrigger
from airflow.providers.cncf.kubernetes.utils.pod_manager import (
    PodLaunchTimeoutException,
    detect_pod_terminate_early_issues,
)
from kubernetes.client import models as k8s

from rdfox_pipeline.triggers.resume_floor import wait_for_resume_floor


def init_container_problem(pod: Any) -> str | None:
    """The provider's fail-fast rule (non-transient image pull errors) applied to the init containers."""
    status = getattr(pod, "status", None)
    statuses = getattr(status, "init_container_statuses", None)
    if not statuses:
        return None
    problem = detect_pod_terminate_early_issues(
        k8s.V1Pod(status=k8s.V1PodStatus(container_statuses=statuses))
    )
    if problem is None:
        return None
    waiting = next((s.name for s in statuses if s.state and s.state.waiting), "?")
    return f"init container {waiting}: {problem}"


class _InitContainerWatch:
    """Mixin: run the provider's start-up wait and the init container watch; the first to finish wins."""

    startup_check_interval: float  # and _get_pod(): KubernetesPodTrigger's (must not be shadowed here)

    def __init__(self, *args: Any, resume_not_before: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume_not_before = resume_not_before  # see triggers/resume_floor.py

    async def _watch_init_containers(self) -> str:
        while True:
            problem = init_container_problem(await self._get_pod())  # type: ignore[attr-defined]
            if problem:
                return problem
            await asyncio.sleep(self.startup_check_interval)

    async def _wait_for_pod_start(self) -> Any:
        start = asyncio.ensure_future(super()._wait_for_pod_start())  # type: ignore[misc]
        watch = asyncio.ensure_future(self._watch_init_containers())
        try:
            done, _ = await asyncio.wait({start, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (start, watch):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        # Whatever the outcome, a pod that was over at once is handed back no sooner than the floor.
        await wait_for_resume_floor(self.resume_not_before)
        if start in done:
            return start.result()
        # A "timeout" event: trigger_reentry fails the task with this message and does not re-defer.
        raise PodLaunchTimeoutException(watch.result())

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # The provider's serialize() names its own class; the triggerer must rebuild this one.
        _, kwargs = super().serialize()  # type: ignore[misc]
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {**kwargs, "resume_not_before": self.resume_not_before},
        )


class RdfoxPodTrigger(_InitContainerWatch, KubernetesPodTrigger):
    """``KubernetesPodTrigger`` that also fails fast on init container image pull errors."""


class RdfoxEksPodTrigger(_InitContainerWatch, EksPodTrigger):
    """``EksPodTrigger`` (fresh EKS credentials in the triggerer) with the same init container watch."""


def with_init_container_watch(trigger: Any, resume_not_before: float | None = None) -> Any:
    """The same trigger (same arguments) as one of ours; other triggers are returned unchanged."""
    if isinstance(trigger, _InitContainerWatch):
        return trigger
    for provider_class, ours in (
        (EksPodTrigger, RdfoxEksPodTrigger),
        (KubernetesPodTrigger, RdfoxPodTrigger),
    ):
        if isinstance(trigger, provider_class):
            return ours(**trigger.serialize()[1], resume_not_before=resume_not_before)
    return trigger
