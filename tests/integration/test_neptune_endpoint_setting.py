"""NEPTUNE_CLUSTER_ENDPOINT (SSM on moto's server) with the ``neptune_default`` connection, against the
Neptune emulator: a host-less connection loads where the setting says, a conflicting one fails before any
request, and the sensor/trigger poll the endpoint the load was started on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from rdfox_pipeline.compat import AirflowFailException, TaskDeferred
from rdfox_pipeline.hooks.neptune_loader import NeptuneEndpointError
from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor
from rdfox_pipeline.triggers.neptune_load_status import NeptuneLoadStatusTrigger

from tests.conftest import free_port
from tests.integration.conftest import NeptuneEmulator
from tests.integration.neptune_job_fixtures import Job, make_job_fixture  # noqa: F401 - fixture
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

# no_resume_floor: the triggers run in this process, no scheduler to race (triggers/resume_floor.py).
pytestmark = [pytest.mark.compat, pytest.mark.timeout(120), pytest.mark.usefixtures("no_resume_floor")]


class TaskInstance:
    """What the operator uses of ``context["ti"]``: it pushes the endpoint it used."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def hostless_connection(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    """``neptune_default`` with scheme and extras but no host: the setting must name the endpoint."""
    conn = {"conn_type": "neptune", "extra": {"use_https": False, **extra}}
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", json.dumps(conn))


def run_trigger(trigger: NeptuneLoadStatusTrigger) -> list:
    async def collect() -> list:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def test_hostless_connection_loads_where_the_ssm_setting_says_and_the_trigger_polls_there(
    neptune_emulator: NeptuneEmulator,
    make_job: Callable[..., Job],
    isolated_settings: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    hostless_connection(monkeypatch)
    isolated_settings("NEPTUNE_CLUSTER_ENDPOINT", f"127.0.0.1:{neptune_emulator.port}")  # host:port form
    job = make_job()
    ti = TaskInstance()
    load_id = NeptuneBulkLoadOperator(task_id="load", job_id=job.job_id, aws_conn_id=None).execute({"ti": ti})
    assert neptune_emulator.load_request(load_id)["source"] == job.source
    endpoint = f"http://127.0.0.1:{neptune_emulator.port}"  # the connection's scheme, the setting's host
    assert ti.xcom == {"neptune_endpoint": endpoint}
    source = "NEPTUNE_CLUSTER_ENDPOINT (connection 'neptune_default' has no host)"
    assert f"Neptune endpoint {endpoint}, from {source}" in capfd.readouterr().out

    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, job_id=job.job_id, aws_conn_id=None, neptune_endpoint=endpoint
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    [event] = run_trigger(NeptuneLoadStatusTrigger(**{**trigger.serialize()[1], "waiter_delay": 0.05}))
    assert event.payload["status"] == "terminal" and event.payload["neptune_endpoint"] == endpoint
    assert sensor.execute_complete({}, event.payload)["total_records"] == 2
    assert job.record()["job_status"] == "NEPTUNE_LOAD_COMPLETED"


def test_connection_host_and_setting_naming_different_endpoints_fail_before_any_request(
    neptune_emulator: NeptuneEmulator,
    neptune_connection: str,
    make_job: Callable[..., Job],
    isolated_settings: Callable[[str, str], None],
) -> None:
    other = f"http://127.0.0.1:{free_port()}"
    isolated_settings("NEPTUNE_CLUSTER_ENDPOINT", other)
    job = make_job()
    operator = NeptuneBulkLoadOperator(task_id="load", job_id=job.job_id, aws_conn_id=None, retries=3)
    with pytest.raises(NeptuneEndpointError) as caught:
        operator.execute({"ti": TaskInstance()})
    assert str(caught.value) == (
        "Neptune endpoint conflict: connection 'neptune_default' names "
        f"http://127.0.0.1:{neptune_emulator.port} but NEPTUNE_CLUSTER_ENDPOINT names {other}; "
        "clear the connection's host or the setting, or make them name the same endpoint"
    )
    assert neptune_emulator.stats()["requests"] == 0  # no GET, no POST /loader
    assert "neptune_load_source" not in job.record()  # nothing recorded as started either
    assert isinstance(caught.value, AirflowFailException)  # a retry cannot fix a configuration


def test_trigger_refuses_a_connection_that_now_names_another_endpoint(
    neptune_emulator: NeptuneEmulator, neptune_connection: str
) -> None:
    # The load was started elsewhere; polling this connection's host would read someone else's loads.
    elsewhere = f"http://127.0.0.1:{free_port()}"
    trigger = NeptuneLoadStatusTrigger("L1", neptune_endpoint=elsewhere, waiter_delay=0.05, timeout=30)
    [event] = run_trigger(trigger)
    assert event.payload["status"] == "error" and "Neptune endpoint conflict" in event.payload["message"]
    assert "the endpoint Neptune load L1 was started on names " + elsewhere in event.payload["message"]
    assert neptune_emulator.stats()["requests"] == 0


def test_sensor_without_the_xcom_resolves_the_jobs_setting(
    neptune_emulator: NeptuneEmulator,
    make_job: Callable[..., Job],
    isolated_settings: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostless_connection(monkeypatch)
    isolated_settings("NEPTUNE_CLUSTER_ENDPOINT", f"http://127.0.0.1:{neptune_emulator.port}")
    job = make_job()
    load_id = NeptuneBulkLoadOperator(task_id="load", job_id=job.job_id, aws_conn_id=None).execute({})
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, job_id=job.job_id, aws_conn_id=None, deferrable=False,
        poke_interval=0.05, timeout=30, neptune_endpoint="None",  # a missing XCom, rendered as text
    )  # fmt: skip
    assert sensor.execute({})["total_records"] == 2


def test_hostless_connection_loads_where_the_jobs_own_endpoint_says(
    neptune_emulator: NeptuneEmulator,
    make_job: Callable[..., Job],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An old jobspec's neptune_configuration.cluster_endpoint becomes the job's neptune.cluster_endpoint: a
    # per-job NEPTUNE_CLUSTER_ENDPOINT, with nothing in SSM or the environment.
    hostless_connection(monkeypatch)
    monkeypatch.delenv("NEPTUNE_CLUSTER_ENDPOINT", raising=False)
    # host:port (a jobspec may not ask for plain http): the scheme is the connection's.
    job = make_job(neptune={"cluster_endpoint": f"127.0.0.1:{neptune_emulator.port}"})
    ti = TaskInstance()
    load_id = NeptuneBulkLoadOperator(task_id="load", job_id=job.job_id, aws_conn_id=None).execute({"ti": ti})
    assert neptune_emulator.load_request(load_id)["source"] == job.source
    assert ti.xcom == {"neptune_endpoint": f"http://127.0.0.1:{neptune_emulator.port}"}
