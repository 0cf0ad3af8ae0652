"""The Neptune operator, sensor and trigger, and RdfoxLogSensor, in the Amazon provider's idiom (issue 14,
item 10): ``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``; ``waiter_delay`` and
``waiter_max_attempts``; the provider's event validation; the S3 sensor's own machinery for rdfox.log."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import boto3
import pytest
from rdfox_pipeline.compat import AirflowException, TaskDeferred
from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook
from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor
from rdfox_pipeline.sensors.rdfox_log import RdfoxLogSensor
from rdfox_pipeline.triggers.neptune_load_status import NeptuneLoadStatusTrigger

from tests.conftest import TEST_REGION
from tests.integration.conftest import (
    NEPTUNE_SIGV4_ACCESS_KEY,
    NEPTUNE_SIGV4_SECRET_KEY,
    NEPTUNE_SIGV4_SESSION_TOKEN,
    TEST_ROLE_ARN,
    neptune_conn_json,
)

pytestmark = [pytest.mark.compat, pytest.mark.timeout(60)]
AWS_ARGS = {
    "aws_conn_id": "aws_x",
    "region_name": "eu-west-1",
    "verify": False,
    "botocore_config": {"retries": {"mode": "standard"}},
}
AWS_TEMPLATED = {"aws_conn_id", "region_name", "verify"}
NT = "<http://a/s> <http://a/p> <http://a/o> .\n"


def _tasks() -> list:
    registration = {"job_id": "DS_2024-01-01_000", "rdfox_log_uri": "s3://b/DS/DS_2024-01-01_000/rdfox.log"}
    return [
        NeptuneBulkLoadOperator(task_id="start", job_id="J", **AWS_ARGS),
        NeptuneLoadStatusSensor(task_id="wait", load_id="L1", **AWS_ARGS),
        RdfoxLogSensor(task_id="parse", registration=registration, **AWS_ARGS),
    ]


@pytest.mark.parametrize("task", _tasks(), ids=lambda t: type(t).__name__)
def test_the_providers_four_arguments_are_kept_and_templated(task):
    assert set(task.template_fields) >= AWS_TEMPLATED
    assert list(task.template_fields) == sorted(task.template_fields)
    for name in task.template_fields:  # as the provider's validate_template_fields checks
        assert hasattr(task, name), name
    for name, value in AWS_ARGS.items():
        assert getattr(task, name) == value, name


def test_sensor_defers_with_the_aws_arguments_and_waiter_delay():
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id="L1", poke_interval=7, timeout=100, neptune_endpoint="https://n.example:8182",
        **AWS_ARGS,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    path, kwargs = trigger.serialize()
    assert kwargs["waiter_delay"] == 7 and "poll_interval" not in kwargs
    assert {k: kwargs[k] for k in AWS_ARGS} == AWS_ARGS
    assert NeptuneLoadStatusTrigger(**kwargs).serialize() == (path, kwargs)


def test_old_poll_interval_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="poll_interval is deprecated, use waiter_delay"):
        trigger = NeptuneLoadStatusTrigger("L1", poll_interval=3, timeout=60)
    assert trigger.waiter_delay == 3 and trigger.serialize()[1]["waiter_delay"] == 3
    with pytest.raises(ValueError, match="waiter_max_attempts"):
        NeptuneLoadStatusTrigger("L1", waiter_max_attempts=0)


def test_execute_complete_validates_the_event_as_the_provider_does():
    with pytest.raises(AirflowException, match="Trigger error: event is None"):
        NeptuneLoadStatusSensor(task_id="wait", load_id="L1").execute_complete({}, None)
    sensor = _tasks()[2]
    with pytest.raises(AirflowException, match="Trigger error: event is None"):
        sensor.execute_complete({}, None)
    with pytest.raises(AirflowException, match="S3 said no"):
        sensor.execute_complete({}, {"status": "error", "message": "S3 said no"})


def test_trigger_stops_after_waiter_max_attempts(neptune_connection, neptune_emulator, s3_source):
    neptune_emulator.control("throttle", {"seconds": 10})
    load_id = NeptuneLoaderHook().start_load(
        source=s3_source({"a.nt": NT}), format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION
    )

    async def collect() -> list:
        trigger = NeptuneLoadStatusTrigger(load_id, waiter_delay=0.05, waiter_max_attempts=3, timeout=30)
        return [event async for event in trigger.run()]

    began = time.monotonic()
    [event] = asyncio.run(collect())
    assert event.payload["status"] == "timeout" and "after 3 polls" in event.payload["message"]
    assert time.monotonic() - began < 5


def test_the_tasks_aws_connection_signs_when_the_neptune_connection_names_none(
    neptune_emulator_sigv4, s3_source, monkeypatch
):
    # The Neptune connection asks for IAM auth but names no AWS connection or region: the task's do.
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEPTUNE_DEFAULT", neptune_conn_json(neptune_emulator_sigv4, iam_auth=True)
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEPTUNE_SIGNER",
        json.dumps(
            {
                "conn_type": "aws",
                "login": NEPTUNE_SIGV4_ACCESS_KEY,
                "password": NEPTUNE_SIGV4_SECRET_KEY,
                "extra": {"aws_session_token": NEPTUNE_SIGV4_SESSION_TOKEN},
            }
        ),
    )
    hook = NeptuneLoaderHook(aws_conn_id="neptune_signer", region_name=TEST_REGION)
    assert hook.list_loads() == []
    load_id = NeptuneLoaderHook(aws_conn_id="neptune_signer", region_name=TEST_REGION).start_load(
        source=s3_source({"a.nt": NT}), format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION
    )
    payload = asyncio.run(
        NeptuneLoaderHook(aws_conn_id="neptune_signer", region_name=TEST_REGION).aget_load_status(load_id)
    )
    assert payload["overallStatus"]["fullUri"].startswith("s3://")


def test_log_sensor_defers_to_the_s3_trigger_with_region_verify_and_config(aws_endpoint):
    bucket = f"logs-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", region_name=TEST_REGION).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION}
    )
    registration = {
        "job_id": "DS_2024-01-01_000",
        "rdfox_log_uri": f"s3://{bucket}/DS/DS_2024-01-01_000/rdfox.log",
    }
    config = {"retries": {"mode": "standard", "max_attempts": 2}}
    sensor = RdfoxLogSensor(
        task_id="parse", registration=registration, aws_conn_id=None, region_name=TEST_REGION, verify=True,
        botocore_config=config, poke_interval=5,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # the log is not there yet: one poke, then defer
    trigger = deferred.value.trigger
    assert (trigger.bucket_name, trigger.bucket_key) == (bucket, ["DS/DS_2024-01-01_000/rdfox.log"])
    assert (trigger.region_name, trigger.verify, trigger.botocore_config) == (TEST_REGION, True, config)
    assert trigger.poke_interval == 5 and deferred.value.method_name == "execute_complete"
