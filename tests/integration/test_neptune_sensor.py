"""NeptuneLoadStatusTrigger (asyncio, real HTTP) and NeptuneLoadStatusSensor (deferrable, poke,
reschedule) against the Neptune emulator, with the job table on moto's server."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from rdfox_pipeline.compat import AirflowException, AirflowFailException, TaskDeferred
from rdfox_pipeline.domain.statuses import NEPTUNE_FAILURE_STATUSES, JobStatus
from rdfox_pipeline.hooks.job_metadata import JobMetadataHook
from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor
from rdfox_pipeline.triggers.neptune_load_status import NeptuneLoadStatusTrigger

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.compat, pytest.mark.timeout(120)]
NT = "<http://a/s> <http://a/p> <http://a/o> .\n"


def start(source: str, **extra) -> str:
    return NeptuneLoaderHook().start_load(
        source=source, format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION, **extra
    )


def run_trigger(trigger: NeptuneLoadStatusTrigger) -> list:
    async def collect() -> list:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


@pytest.fixture
def job(aws_endpoint, monkeypatch, isolated_settings):
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    table = f"jobs-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("JOB_TABLE_NAME", table)
    clear_settings_cache()
    hook = JobMetadataHook(aws_conn_id=None, table_name=table)
    hook.create_table_if_missing()
    return hook, hook.allocate_job("SENSORTEST")


def test_trigger_serialize_round_trip():
    trigger = NeptuneLoadStatusTrigger("abc", "neptune_x", waiter_delay=5, timeout=60)
    path, kwargs = trigger.serialize()
    assert path == "rdfox_pipeline.triggers.neptune_load_status.NeptuneLoadStatusTrigger"
    assert (
        kwargs["load_id"] == "abc"
        and kwargs["neptune_conn_id"] == "neptune_x"
        and kwargs["waiter_delay"] == 5
    )
    assert time.time() + 55 < kwargs["deadline"] <= time.time() + 60
    again = NeptuneLoadStatusTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)


def test_trigger_completed_after_transient_errors(neptune_connection, neptune_emulator, s3_source):
    neptune_emulator.control("throttle", {"seconds": 0.6})
    load_id = start(s3_source({"a.nt": NT}))
    neptune_emulator.control("faults", {"status": 500, "count": 4})  # two whole polls fail (2 attempts each)
    events = run_trigger(NeptuneLoadStatusTrigger(load_id, waiter_delay=0.1, timeout=30))
    assert len(events) == 1
    event = events[0].payload
    assert event["status"] == "terminal" and event["loader_status"] == "LOAD_COMPLETED"
    assert event["payload"]["overallStatus"]["totalRecords"] == 1
    assert neptune_emulator.stats()["faults"]["injected_failures"] == 4


def test_trigger_survives_lost_answers_and_logs_progress(
    neptune_connection, neptune_emulator, s3_source, capfd
):
    neptune_emulator.control("throttle", {"seconds": 1.0})
    load_id = start(s3_source({"a.nt": NT}))
    # Answers lost on the wire (the server closes the connection): polls fail, are logged, and go on.
    neptune_emulator.control("faults", {"status": 500, "count": 4, "mode": "drop"})
    events = run_trigger(NeptuneLoadStatusTrigger(load_id, waiter_delay=0.1, timeout=30))
    assert [e.payload["loader_status"] for e in events] == ["LOAD_COMPLETED"]
    assert neptune_emulator.stats()["faults"]["injected_failures"] == 4
    output = capfd.readouterr().out
    assert "Server disconnected" in output, output
    progress = [line for line in output.splitlines() if f"Neptune load {load_id}: LOAD_IN_PROGRESS" in line]
    assert progress and all("records so far" in line and "(poll " in line for line in progress), output


def test_trigger_failed_load(neptune_connection, neptune_emulator, s3_source):
    neptune_emulator.control("next-load-status", {"status": "LOAD_FAILED"})
    load_id = start(s3_source({"a.nt": NT}))
    [event] = run_trigger(NeptuneLoadStatusTrigger(load_id, waiter_delay=0.05, timeout=30))
    assert event.payload["status"] == "terminal" and event.payload["loader_status"] == "LOAD_FAILED"


def test_trigger_timeout_and_unknown_load(neptune_connection, neptune_emulator, s3_source):
    neptune_emulator.control("throttle", {"seconds": 10})
    load_id = start(s3_source({"a.nt": NT}))
    began = time.monotonic()
    [event] = run_trigger(NeptuneLoadStatusTrigger(load_id, waiter_delay=0.2, timeout=0.5))
    assert event.payload["status"] == "timeout" and time.monotonic() - began < 5
    [missing] = run_trigger(NeptuneLoadStatusTrigger(str(uuid.uuid4()), waiter_delay=0.05, timeout=30))
    assert missing.payload["status"] == "error" and "not found" in missing.payload["message"]


def test_sensor_defers_to_the_trigger():
    # The endpoint the load was started on (the operator's XCom) goes to the trigger as it is.
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id="L1", poke_interval=7, timeout=100, neptune_endpoint="https://n.example:8182"
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, NeptuneLoadStatusTrigger)
    assert (trigger.load_id, trigger.neptune_conn_id, trigger.waiter_delay) == ("L1", "neptune_default", 7)
    assert trigger.neptune_endpoint == "https://n.example:8182"
    assert trigger.serialize()[1]["neptune_endpoint"] == "https://n.example:8182"
    assert deferred.value.method_name == "execute_complete"


def test_sensor_execute_complete_records_completed_stats(
    neptune_connection, neptune_emulator, s3_source, job
):
    metadata, job_id = job
    load_id = start(s3_source({"a.nt": NT}))
    [event] = run_trigger(NeptuneLoadStatusTrigger(load_id, waiter_delay=0.05, timeout=30))
    sensor = NeptuneLoadStatusSensor(task_id="wait", load_id=load_id, job_id=job_id, aws_conn_id=None)
    stats = sensor.execute_complete({}, event.payload)
    assert stats["status"] == "LOAD_COMPLETED" and stats["total_records"] == 1 and stats["load_id"] == load_id
    record = metadata.get_job(job_id)
    assert record["job_status"] == "NEPTUNE_LOAD_COMPLETED"
    assert record["neptune_stats"]["total_records"] == 1


def test_sensor_timeout_and_error_events_fail_clearly():
    from rdfox_pipeline.compat import AirflowSensorTimeout

    sensor = NeptuneLoadStatusSensor(task_id="wait", load_id="L1", timeout=60)
    with pytest.raises(AirflowSensorTimeout, match="did not finish within 60s"):
        sensor.execute_complete({}, {"status": "timeout", "load_id": "L1"})
    # Resumed in a new process (timeout not given: the job's setting was applied then): the kept deadline.
    resumed = NeptuneLoadStatusSensor(task_id="wait", load_id="L1")
    with pytest.raises(
        AirflowSensorTimeout, match=r"did not finish by its deadline 2001-09-09T01:46:40\+00:00"
    ):
        resumed.execute_complete({}, {"status": "timeout", "load_id": "L1", "deadline": 1e9})
    with pytest.raises(AirflowException, match="cannot read its status"):
        sensor.execute_complete({}, {"status": "error", "message": "404 not found"})


@pytest.mark.parametrize("loader_status", sorted(NEPTUNE_FAILURE_STATUSES))
def test_every_failure_status_fails_and_is_recorded(neptune_connection, neptune_emulator, s3_source, job,
                                                    loader_status):  # fmt: skip
    metadata, job_id = job
    neptune_emulator.control("next-load-status", {"status": loader_status})
    load_id = start(s3_source({"a.nt": NT}))
    neptune_emulator.wait_for_load(load_id)
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, job_id=job_id, aws_conn_id=None, deferrable=False,
        poke_interval=0.05, timeout=30,
    )  # fmt: skip
    # Poke path too: a finished load fails the task once (AirflowFailException: no retry re-reads it).
    with pytest.raises(AirflowFailException) as caught:
        sensor.execute({})
    message = str(caught.value)
    assert (
        f"ended {loader_status}" in message and "emulator: load forced" in message
    )  # the loader's own errors
    record = metadata.get_job(job_id)
    assert record["job_status"] == JobStatus("NEPTUNE_" + loader_status).value
    assert "emulator: load forced" in record["error_reason"]


def test_poke_mode_waits_and_logs_progress(neptune_connection, neptune_emulator, s3_source, capfd):
    # Airflow's task logging goes through structlog to the process's output, not to stdlib logging:
    # read what was really printed.
    neptune_emulator.control("throttle", {"seconds": 0.6})
    load_id = start(s3_source({"a.nt": NT, "b.nt": NT.replace("/o>", "/o2>")}))
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, deferrable=False, poke_interval=0.1, timeout=30
    )
    result = sensor.execute({})
    assert result["status"] == "LOAD_COMPLETED" and result["total_records"] == 2
    output = capfd.readouterr().out
    progress = [line for line in output.splitlines() if f"Neptune load {load_id}: LOAD_IN_PROGRESS" in line]
    assert len(progress) >= 2, output  # one line per poll while the load runs
    assert all(
        "records so far" in line and "elapsed loading" in line and "waited" in line for line in progress
    )
    assert f"Neptune load {load_id} completed: 2 records" in output


def test_reschedule_mode_gives_back_the_slot(neptune_connection, neptune_emulator, s3_source):
    from airflow.exceptions import AirflowRescheduleException

    class TI:
        def get_first_reschedule_date(self, context):
            return None

    neptune_emulator.control("throttle", {"seconds": 5})
    load_id = start(s3_source({"a.nt": NT}))
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, deferrable=False, mode="reschedule", poke_interval=60, timeout=600
    )
    with pytest.raises(AirflowRescheduleException):
        sensor.execute({"ti": TI()})


def test_poke_mode_timeout(neptune_connection, neptune_emulator, s3_source):
    from rdfox_pipeline.compat import AirflowSensorTimeout

    neptune_emulator.control("throttle", {"seconds": 10})
    load_id = start(s3_source({"a.nt": NT}))
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, deferrable=False, poke_interval=0.1, timeout=0.5
    )
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute({})


# -- the wait's poll interval and timeout are the job's settings (issue 13, scenario 9) ----------------------
def _job_with_settings(metadata: JobMetadataHook, **settings) -> str:
    return metadata.allocate_job("SENSORTEST", jobspec={"dataset": "SENSORTEST", "settings": settings})


def test_deferred_wait_takes_poll_and_deadline_from_the_job_settings(job, isolated_settings):
    metadata, plain_job = job
    isolated_settings("NEPTUNE_LOAD_POLL_SECONDS", "7")  # SSM
    per_job = _job_with_settings(metadata, NEPTUNE_LOAD_TIMEOUT_HOURS=3)  # the jobspec overrides
    expected = {per_job: 3 * 3600, plain_job: 48 * 3600, None: 48 * 3600}  # 48 h: the setting's default
    for job_id, timeout in expected.items():
        sensor = NeptuneLoadStatusSensor(
            task_id="wait", load_id="L1", job_id=job_id, aws_conn_id=None,
            neptune_endpoint="https://n.example:8182",
        )  # fmt: skip
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute({})
        trigger = deferred.value.trigger
        assert trigger.waiter_delay == 7, job_id
        # An absolute deadline, serialised: a triggerer restart does not move it.
        deadline = trigger.serialize()[1]["deadline"]
        assert time.time() + timeout - 30 < deadline <= time.time() + timeout, job_id
        assert deferred.value.timeout.total_seconds() == timeout + 7, job_id


def test_reschedule_wait_times_out_at_the_job_timeout(
    neptune_connection, neptune_emulator, s3_source, job, isolated_settings
):
    from datetime import UTC, datetime, timedelta

    from airflow.exceptions import AirflowRescheduleException
    from rdfox_pipeline.compat import AirflowSensorTimeout

    metadata, _ = job
    isolated_settings("NEPTUNE_LOAD_POLL_SECONDS", "5")
    job_id = _job_with_settings(metadata, NEPTUNE_LOAD_TIMEOUT_HOURS=3)
    neptune_emulator.control("throttle", {"seconds": 10})
    load_id = start(s3_source({"a.nt": NT}))

    class TI:
        def __init__(self, waited: timedelta) -> None:
            self.first = datetime.now(UTC) - waited

        def get_first_reschedule_date(self, context):
            return self.first

    def sensor() -> NeptuneLoadStatusSensor:
        return NeptuneLoadStatusSensor(
            task_id="wait", load_id=load_id, job_id=job_id, aws_conn_id=None, deferrable=False,
            mode="reschedule",
        )  # fmt: skip

    with pytest.raises(AirflowRescheduleException) as again:
        sensor().execute({"ti": TI(timedelta(hours=2))})  # within the job's 3 h: poll again in 5 s (SSM)
    wait = (again.value.reschedule_date - datetime.now(UTC)).total_seconds()
    assert 0 < wait <= 5, wait
    with pytest.raises(AirflowSensorTimeout):
        sensor().execute({"ti": TI(timedelta(hours=3, minutes=1))})  # past it (not the old fixed 24 h)


def test_poke_wait_polls_at_the_job_interval(neptune_connection, neptune_emulator, s3_source, job, capfd):
    metadata, _ = job
    job_id = _job_with_settings(metadata, NEPTUNE_LOAD_POLL_SECONDS=1)
    neptune_emulator.control("throttle", {"seconds": 2.5})
    load_id = start(s3_source({"a.nt": NT}))
    began = time.monotonic()
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, job_id=job_id, aws_conn_id=None, deferrable=False
    )
    assert sensor.execute({})["status"] == "LOAD_COMPLETED"
    assert time.monotonic() - began < 20  # polled every second, not every 60 s
    output = capfd.readouterr().out
    assert len([line for line in output.splitlines() if "LOAD_IN_PROGRESS" in line]) >= 2, output
