"""Neptune's error codes as botocore's ``neptunedata`` model declares them, from the emulator over HTTP,
through the hook, the trigger and the sensor (issue 14, item 3): a test per code; retries follow the code."""

from __future__ import annotations

import asyncio

import pytest
import requests
from rdfox_pipeline.compat import AirflowFailException
from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderError, NeptuneLoaderHook
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor
from rdfox_pipeline.triggers.neptune_load_status import NeptuneLoadStatusTrigger

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN, NeptuneEmulator, neptune_conn_json

pytestmark = [pytest.mark.compat, pytest.mark.timeout(60)]
NT = "<http://a/s> <http://a/p> <http://a/o> .\n"
# code -> (HTTP status in the model, does sending the same request again help)
CODES = {
    "ThrottlingException": (500, True),
    "TooManyRequestsException": (429, True),
    "BadRequestException": (400, False),
    "MissingParameterException": (400, False),
    "InvalidParameterException": (400, False),
    "LoadUrlAccessDeniedException": (400, False),
    "S3Exception": (400, True),
    "BulkLoadIdNotFoundException": (404, True),
    "AccessDeniedException": (403, False),
}


def fast_hook(**kwargs) -> NeptuneLoaderHook:
    return NeptuneLoaderHook(backoff_base=0.01, backoff_max=0.05, **kwargs)


def inject(emulator: NeptuneEmulator, code: str, count: int = 1, **extra) -> None:
    emulator.control("faults", {"code": code, "count": count, **extra})


@pytest.mark.parametrize("code", sorted(CODES))
def test_emulator_answers_the_code_with_the_models_status(neptune_emulator, code):
    inject(neptune_emulator, code)
    response = requests.get(f"{neptune_emulator.url}/loader", timeout=10)
    assert response.status_code == CODES[code][0]
    body = response.json()
    assert body["code"] == code and body["requestId"] and body["detailedMessage"]
    assert response.headers["x-amzn-RequestId"] == body["requestId"]


@pytest.mark.parametrize("code", sorted(CODES))
def test_hook_retries_by_the_code(neptune_connection, neptune_emulator, code):
    status, retried = CODES[code]
    inject(neptune_emulator, code)
    if retried:
        assert fast_hook().list_loads() == []
        assert neptune_emulator.stats()["requests"] == 2
        return
    with pytest.raises(NeptuneLoaderError) as caught:
        fast_hook().list_loads()
    error = caught.value
    assert (error.status_code, error.code, error.retryable) == (status, code, False)
    assert error.request_id and neptune_emulator.stats()["requests"] == 1
    # A new task try cannot change a refused request; it can re-sign a denied one with fresh credentials.
    assert isinstance(error, AirflowFailException) is (code != "AccessDeniedException")


@pytest.mark.parametrize("code", ["ThrottlingException", "TooManyRequestsException", "S3Exception"])
def test_start_request_retried_by_the_code_starts_one_load(
    neptune_connection, neptune_emulator, s3_source, code
):
    source = s3_source({"a.nt": NT})
    inject(neptune_emulator, code, count=2, match="POST /loader")
    load_id = fast_hook(max_attempts=4).start_load(
        source=source, format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION, queueRequest=True
    )
    stats = neptune_emulator.stats()
    assert stats["loader"]["loads_submitted"] == 1 and stats["faults"]["injected_failures"] == 2
    # A 500 (ThrottlingException) may come from a gateway after the cluster acted: the load is looked for
    # before the POST is sent again (GET /loader); a 4xx proves nothing was started, so it is simply resent.
    looked_for = stats["requests"] > 3
    assert looked_for is (CODES[code][0] >= 500)
    assert fast_hook().list_loads() == [load_id]


def _run_trigger(load_id: str) -> dict:
    async def collect() -> list:
        return [e async for e in NeptuneLoadStatusTrigger(load_id, waiter_delay=0.05, timeout=20).run()]

    [event] = asyncio.run(collect())
    return event.payload


@pytest.mark.parametrize("code", sorted(CODES))
def test_trigger_polls_through_throttling_and_stops_on_a_refusal(
    neptune_connection, neptune_emulator, s3_source, code
):
    load_id = fast_hook().start_load(
        source=s3_source({"a.nt": NT}), format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION
    )
    neptune_emulator.wait_for_load(load_id)
    inject(neptune_emulator, code, count=3, match=f"GET /loader/{load_id}")  # longer than one poll's 2 tries
    event = _run_trigger(load_id)
    if CODES[code][1] and code != "BulkLoadIdNotFoundException":
        assert event["status"] == "terminal" and event["loader_status"] == "LOAD_COMPLETED", event
    else:  # refused, denied, or a load Neptune does not know: polling cannot change it
        assert event["status"] == "error" and code in event["message"], event


def test_poke_sensor_waits_through_throttling(neptune_emulator, s3_source, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEPTUNE_DEFAULT",
        neptune_conn_json(neptune_emulator, max_attempts=2, backoff_base=0.01, backoff_max=0.02),
    )
    load_id = fast_hook().start_load(
        source=s3_source({"a.nt": NT}), format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION
    )
    neptune_emulator.wait_for_load(load_id)
    # More throttled answers than the hook's attempts in one poke: the next poke goes on.
    inject(neptune_emulator, "ThrottlingException", count=6, match=f"GET /loader/{load_id}")
    sensor = NeptuneLoadStatusSensor(
        task_id="wait", load_id=load_id, deferrable=False, poke_interval=0.05, timeout=20
    )
    assert sensor.execute({})["status"] == "LOAD_COMPLETED"
    assert neptune_emulator.stats()["faults"]["injected_failures"] == 6
