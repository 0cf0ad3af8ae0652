"""Neptune's documented Get-Status variants (float ``totalTimeSpent``, no ``startTime`` without details,
fields left out, fields added) through the operator, the sensor (poke and deferred) and ``find_load``, against
the emulator over HTTP (issue 14, item 2): a load that completed never fails the task over a field's type."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook
from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor
from rdfox_pipeline.triggers.neptune_load_status import NeptuneLoadStatusTrigger

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN, NeptuneEmulator
from tests.integration.neptune_job_fixtures import Job, make_job_fixture  # noqa: F401 - fixture
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.compat, pytest.mark.timeout(60), pytest.mark.usefixtures("isolated_settings")]
# The default shape ("full") is what every other Neptune test reads: only the variants here.
SHAPES = ("documented", "floats", "sparse", "extra")


def _loaded_job(emulator: NeptuneEmulator, make_job: Callable[..., Job], shape: str) -> tuple[Job, str]:
    emulator.control("status-shape", {"shape": shape})
    job = make_job()
    load_id = NeptuneBulkLoadOperator(task_id="start", job_id=job.job_id, aws_conn_id=None).execute({})
    emulator.wait_for_load(load_id)
    return job, load_id


def _sensor(job: Job, load_id: str, **kwargs: Any) -> NeptuneLoadStatusSensor:
    return NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, job_id=job.job_id, aws_conn_id=None, poke_interval=0.05, timeout=30,
        **kwargs,
    )  # fmt: skip


def _check_completed(job: Job, load_id: str, result: dict[str, Any], shape: str) -> None:
    assert result["status"] == "LOAD_COMPLETED" and result["load_id"] == load_id
    record = job.record()
    assert record["job_status"] == "NEPTUNE_LOAD_COMPLETED"
    if shape != "sparse":
        assert result["total_records"] == 2 and record["neptune_stats"]["total_records"] == 2
        assert isinstance(result["total_time_spent"], int | float)
    else:
        assert result["total_records"] is None and "time_to_load_neptune" not in record


@pytest.mark.parametrize("shape", SHAPES)
def test_poke_sensor_completes_with_each_status_shape(neptune_connection, neptune_emulator, make_job, shape):
    job, load_id = _loaded_job(neptune_emulator, make_job, shape)
    result = _sensor(job, load_id, deferrable=False).execute({})
    _check_completed(job, load_id, result, shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_deferred_sensor_completes_with_each_status_shape(
    neptune_connection, neptune_emulator, make_job, shape
):
    job, load_id = _loaded_job(neptune_emulator, make_job, shape)

    async def collect() -> list:
        trigger = NeptuneLoadStatusTrigger(load_id, waiter_delay=0.05, timeout=30)
        return [event async for event in trigger.run()]

    [event] = asyncio.run(collect())
    assert event.payload["status"] == "terminal", event.payload
    result = _sensor(job, load_id).execute_complete({}, event.payload)
    _check_completed(job, load_id, result, shape)


def test_float_time_is_kept_as_the_old_tables_seconds(neptune_connection, neptune_emulator, make_job):
    neptune_emulator.control("throttle", {"seconds": 0.3})
    job, load_id = _loaded_job(neptune_emulator, make_job, "floats")
    result = _sensor(job, load_id, deferrable=False).execute({})
    spent = result["total_time_spent"]
    assert isinstance(spent, float) and 0.3 <= spent < 10, spent
    assert float(job.record()["time_to_load_neptune"]) == spent


@pytest.mark.parametrize("shape", ["documented", "sparse"])
def test_failed_load_is_recorded_with_each_status_shape(
    neptune_connection, neptune_emulator, make_job, shape
):
    neptune_emulator.control("next-load-status", {"status": "LOAD_FAILED"})
    job, load_id = _loaded_job(neptune_emulator, make_job, shape)
    from rdfox_pipeline.compat import AirflowFailException

    with pytest.raises(AirflowFailException, match="ended LOAD_FAILED"):
        _sensor(job, load_id, deferrable=False).execute({})
    record = job.record()
    assert record["job_status"] == "NEPTUNE_LOAD_FAILED" and "emulator: load forced" in record["error_reason"]


def test_lost_answer_finds_the_finished_load_without_start_time_in_the_plain_status(
    neptune_connection, neptune_emulator, s3_source
):
    """The documented non-detailed answer has no startTime: the retry must still recognise the load that its
    lost POST started and that has meanwhile completed (it asks with details, where startTime is)."""
    neptune_emulator.control("status-shape", {"shape": "documented"})
    source = s3_source({"a.nt": "<http://a/s> <http://a/p> <http://a/o> .\n"})
    neptune_emulator.control("faults", {"status": 500, "count": 1, "mode": "after"})
    hook = NeptuneLoaderHook(backoff_base=0.3, backoff_max=0.5, max_attempts=3)
    load_id = hook.start_load(
        source=source, format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION, queueRequest=True
    )
    assert neptune_emulator.stats()["loader"]["loads_submitted"] == 1
    assert hook.list_loads() == [load_id]
