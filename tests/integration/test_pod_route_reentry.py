"""The pod task keeps its route and its execution deadline on every (re-)deferral (issue 13, scenario 4).

The ``reason`` task is taken from the pipeline's DAG file (as a worker does: a fresh operator on every try and
every resume, its execution_timeout the DAG's) and run in-process against the Kubernetes emulator and moto.
There is no EKS on the local stack: for the EKS route, the Amazon provider's kubeconfig generation
(``EksHook.generate_config_file_with_credentials``, which describes the cluster) is replaced by one that
hands out the emulator's kubeconfig and notes the cluster asked for; everything else is the providers' code.
The job's pod asks for more CPUs than the emulator's node has, so it stays Pending: still running as far as
the task can tell, deterministically.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pod_job_fixtures import FILES, Job, make_job

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "rdfox_neptune_pipeline.py"
CLUSTER = "rdfox-eks"
START = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(minutes=5)

pytestmark = [pytest.mark.compat, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def dag() -> Any:
    from rdfox_pipeline.compat import dag_bag_class

    with pytest.MonkeyPatch.context() as mp:  # a busy 2-core machine can take over the default 30 s
        mp.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "300")
        bag = dag_bag_class()(dag_folder=str(DAG_FILE), bundle_path=DAG_FILE.parent)
    assert bag.import_errors == {}, bag.import_errors
    return next(iter(bag.dags.values()))


@pytest.fixture
def eks(pod_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The EKS route on the emulator: CLUSTER_NAME set; the clusters a kubeconfig was generated for."""
    from airflow.providers.amazon.aws.hooks.eks import EksHook
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    asked: list[str] = []
    kubeconfig = str(pod_world["emulator"].kubeconfig)

    @contextmanager
    def generate(self: Any, eks_cluster_name: str, pod_namespace: str | None) -> Iterator[tuple[str, None]]:
        asked.append(eks_cluster_name)
        yield kubeconfig, None

    monkeypatch.setattr(EksHook, "generate_config_file_with_credentials", generate)
    monkeypatch.setenv("CLUSTER_NAME", CLUSTER)
    # On the EKS route the kubeconfig is the cluster's; a kubernetes_default naming another would clash.
    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT")
    clear_settings_cache()
    return asked


def _reason(dag: Any, job: Job) -> Any:
    """A fresh ``reason`` operator from the DAG, its registration rendered as Airflow renders the template."""
    task = dag.get_task("reason").prepare_for_execution()
    task.registration = job.registration
    return task


def _deferral(call: Any) -> Any:
    from rdfox_pipeline.compat import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        call()
    return deferred.value


def _pending_job(pod_world: dict[str, Any]) -> Job:
    return make_job(pod_world, FILES, resources={"cores": 512, "memory": "1Gi"})


def _delete_pod(pod_world: dict[str, Any], deferred: Any) -> None:
    kwargs = deferred.trigger.serialize()[1]
    pod_world["emulator"].client().delete_namespaced_pod(kwargs["pod_name"], kwargs["pod_namespace"])


def _assert_deadline(dag: Any, deferred: Any) -> None:
    timeout = dag.get_task("reason").execution_timeout
    assert timeout == timedelta(hours=48)
    deadline = int((START + timeout).timestamp())
    assert deferred.trigger.serialize()[1]["trigger_kwargs"]["_execution_deadline"] == deadline
    # Airflow's own backstop on the deferral lies past the trigger's deadline (the trigger times out first).
    remaining = deadline - datetime.now(tz=UTC).timestamp()
    assert deferred.timeout is not None and remaining < deferred.timeout.total_seconds() < remaining + 600


def _error_event(deferred: Any) -> dict[str, Any]:
    """What the trigger yields when it loses the API while the pod runs: the operator re-defers."""
    kwargs = deferred.trigger.serialize()[1]
    return {"status": "error", "name": kwargs["pod_name"], "namespace": kwargs["pod_namespace"],
            "message": "connection reset", **kwargs["trigger_kwargs"]}  # fmt: skip


def test_eks_route_defers_to_the_eks_trigger_with_the_execution_deadline(dag, pod_world, eks) -> None:
    from rdfox_pipeline.triggers.rdfox_pod import RdfoxEksPodTrigger

    job = _pending_job(pod_world)
    deferred = _deferral(lambda: _reason(dag, job).execute(job.context(1, start_date=START)))
    try:
        assert isinstance(deferred.trigger, RdfoxEksPodTrigger)
        assert deferred.trigger.serialize()[1]["eks_cluster_name"] == CLUSTER

        # Resumed on another worker: a fresh operator that never ran execute() gets the trigger's event.
        event = _error_event(deferred)
        again = _deferral(lambda: _reason(dag, job).trigger_reentry(job.context(1, START), event))
        assert isinstance(again.trigger, RdfoxEksPodTrigger)
        kwargs = again.trigger.serialize()[1]
        assert kwargs["eks_cluster_name"] == CLUSTER
        assert kwargs["trigger_kwargs"]["eks_cluster_name"] == CLUSTER
        assert kwargs["trigger_kwargs"]["_redefer_count"] == 1
        _assert_deadline(dag, deferred)
        _assert_deadline(dag, again)
        assert eks == [CLUSTER, CLUSTER]  # execute's kubeconfig, then the resumed operator's
    finally:
        _delete_pod(pod_world, deferred)


def test_plain_route_defers_with_the_execution_deadline_and_keeps_it_on_re_deferral(dag, pod_world) -> None:
    from rdfox_pipeline.triggers.rdfox_pod import RdfoxPodTrigger

    job = _pending_job(pod_world)
    deferred = _deferral(lambda: _reason(dag, job).execute(job.context(1, start_date=START)))
    try:
        assert type(deferred.trigger) is RdfoxPodTrigger
        _assert_deadline(dag, deferred)
        event = _error_event(deferred)
        again = _deferral(lambda: _reason(dag, job).trigger_reentry(job.context(1, START), event))
        assert type(again.trigger) is RdfoxPodTrigger
        assert not again.trigger.serialize()[1]["trigger_kwargs"].get("eks_cluster_name")
        _assert_deadline(dag, again)
    finally:
        _delete_pod(pod_world, deferred)


@pytest.mark.slow  # runs the pod and the trigger to a 6-second deadline
def test_execution_timeout_ends_the_eks_wait_and_the_pod(dag, pod_world, eks) -> None:
    """The deadline holds end to end: the EKS trigger (run here as the triggerer runs it) times out, the task
    fails with INFERENCE_FAILED and the pod, still at work, is deleted (nothing would watch it again)."""
    import asyncio

    from rdfox_pipeline.compat import AirflowException

    job = make_job(pod_world, FILES, images={"rdfox": "example.test/reasons-for-an-hour:1"})
    start = datetime.now(tz=UTC)
    task = _reason(dag, job)
    task.execution_timeout = timedelta(seconds=6)
    deferred = _deferral(lambda: task.execute(job.context(1, start_date=start)))

    async def first_event() -> dict[str, Any]:
        async for event in deferred.trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "timeout" and "execution_timeout" in event["message"]
    assert datetime.now(tz=UTC) - start < timedelta(seconds=60)
    resumed = _reason(dag, job)
    resumed.execution_timeout = timedelta(seconds=6)
    pod = deferred.trigger.serialize()[1]["pod_name"]
    reason = f"Pod rdfox/{pod} reached the task's execution_timeout deadline"
    with pytest.raises(AirflowException, match=f"^{reason}"):
        resumed.trigger_reentry(job.context(1, start), event)
    record = pod_world["table"].require_job(job.job_id)
    assert record["job_status"] == "INFERENCE_FAILED"
    assert record["error_reason"].startswith(reason)
    assert record["error_reason"].endswith(f"pod {pod} deleted: still Pending when the task ended")
    assert [e for e in pod_world["emulator"].audit() if e["method"] == "DELETE" and pod in e["path"]]
