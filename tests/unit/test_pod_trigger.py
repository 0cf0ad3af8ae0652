"""The RDFox pod triggers: the provider's, rebuilt as ours with the same arguments, plus the init watch."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.providers.cncf.kubernetes.triggers.pod import KubernetesPodTrigger
from kubernetes.client import models as k8s
from rdfox_pipeline.triggers.rdfox_pod import (
    RdfoxPodTrigger,
    init_container_problem,
    with_init_container_watch,
)

pytestmark = pytest.mark.compat  # also run under MWAA's Airflow (make test-compat)


def _status(name: str, reason: str, message: str) -> k8s.V1ContainerStatus:
    state = k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason=reason, message=message))
    return k8s.V1ContainerStatus(name=name, state=state, image="i", image_id="", ready=False, restart_count=0)


def _pod(*init: k8s.V1ContainerStatus) -> k8s.V1Pod:
    return k8s.V1Pod(status=k8s.V1PodStatus(phase="Pending", init_container_statuses=list(init) or None))


def test_provider_trigger_becomes_ours_with_the_same_arguments() -> None:
    provider = KubernetesPodTrigger(
        pod_name="p", pod_namespace="rdfox", trigger_start_time=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        base_container_name="base", kubernetes_conn_id="kubernetes_default", startup_timeout=172800,
        schedule_timeout=600, poll_interval=5,
    )  # fmt: skip
    ours = with_init_container_watch(provider)
    assert isinstance(ours, RdfoxPodTrigger)
    classpath, kwargs = ours.serialize()
    assert classpath == "rdfox_pipeline.triggers.rdfox_pod.RdfoxPodTrigger"
    assert kwargs == {**provider.serialize()[1], "resume_not_before": None}
    assert with_init_container_watch(ours) is ours
    floored = with_init_container_watch(provider, resume_not_before=1234.5)
    assert floored.serialize()[1] == {**provider.serialize()[1], "resume_not_before": 1234.5}
    assert type(floored)(**floored.serialize()[1]).serialize() == floored.serialize()


def test_init_container_pull_errors_end_the_wait_transient_ones_do_not() -> None:
    missing = _status("prepare", "ErrImagePull", 'failed to pull "x/prepare:9": not found')
    assert "init container prepare: Image cannot be pulled" in init_container_problem(_pod(missing))
    throttled = _status("prepare", "ErrImagePull", "toomanyrequests: pull rate limit reached")
    assert init_container_problem(_pod(throttled)) is None
    assert init_container_problem(_pod(_status("rdfox", "PodInitializing", ""))) is None
    assert init_container_problem(_pod()) is None


def test_the_watch_reads_the_pod_the_providers_way() -> None:
    # The mixin must not shadow the provider's API access (a stub there once broke every deferral).
    assert RdfoxPodTrigger._get_pod is KubernetesPodTrigger._get_pod
    assert RdfoxPodTrigger.run is KubernetesPodTrigger.run


class _QuickStart:
    """Stands in for the provider trigger: the pod has already finished, its pod is read without problems."""

    startup_check_interval = 0.05

    def __init__(self, **_kwargs: object) -> None:
        pass

    async def _wait_for_pod_start(self) -> str:
        return "Succeeded"

    async def _get_pod(self) -> k8s.V1Pod:
        return _pod()


def test_a_pod_that_is_over_at_once_is_handed_back_no_sooner_than_the_floor() -> None:
    import asyncio
    import time

    from rdfox_pipeline.triggers.rdfox_pod import _InitContainerWatch

    class Trigger(_InitContainerWatch, _QuickStart):
        pass

    floor = time.time() + 0.5
    assert asyncio.run(Trigger(resume_not_before=floor)._wait_for_pod_start()) == "Succeeded"
    assert time.time() >= floor
