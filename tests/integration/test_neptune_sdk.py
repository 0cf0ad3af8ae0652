"""Issue 14 items 8 and 9: the AWS SDK's ``neptunedata`` client as a second client of the emulator.

Every operation of botocore's model that the emulator serves (GetEngineStatus, StartLoaderJob,
GetLoaderJobStatus, ListLoaderJobs, CancelLoaderJob; the model has no SPARQL query operation) either
succeeds with the modelled output or raises the typed exception the model declares. Against an emulator that
requires SigV4, the SDK signs with temporary credentials and succeeds; an unsigned call is refused as Neptune
refuses it (403 AccessDeniedException, ``Missing Authentication Token``). LoadUrlAccessDeniedException: see
test_neptune_role_access.py.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from tests.conftest import TEST_REGION
from tests.integration.conftest import (
    NEPTUNE_SIGV4_ACCESS_KEY,
    NEPTUNE_SIGV4_SECRET_KEY,
    NEPTUNE_SIGV4_SESSION_TOKEN,
    TEST_ROLE_ARN,
    NeptuneEmulator,
)

pytestmark = [pytest.mark.timeout(120)]
NT = "<http://a/s> <http://a/p> <http://a/o> .\n"
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def sdk(emulator: NeptuneEmulator, **kwargs: Any) -> Any:
    kwargs.setdefault("config", NO_RETRIES)
    return boto3.client("neptunedata", endpoint_url=emulator.url, region_name=TEST_REGION, **kwargs)


def _start(client: Any, source: str, **params: Any) -> str:
    answer = client.start_loader_job(
        source=source, format="ntriples", s3BucketRegion=TEST_REGION, iamRoleArn=TEST_ROLE_ARN, **params
    )
    assert answer["status"] == "200 OK"
    return answer["payload"]["loadId"]


def test_every_served_operation_through_the_sdk(neptune_emulator: NeptuneEmulator, s3_source: Any) -> None:
    client = sdk(neptune_emulator)
    assert client.get_engine_status()["status"] == "healthy"
    source = s3_source({"a.nt": NT})
    # The SDK sends booleans as JSON true/false and parserConfiguration as a map (the hook sends "TRUE").
    load_id = _start(
        client, source, mode="NEW", failOnError=True, parallelism="LOW", queueRequest=True,
        updateSingleCardinalityProperties=False, parserConfiguration={"namedGraphUri": "http://example.org/g"},
    )  # fmt: skip
    neptune_emulator.wait_for_load(load_id)
    status = client.get_loader_job_status(loadId=load_id, details=True, errors=True, page=1, errorsPerPage=5)
    assert status["status"] == "200 OK"
    overall = status["payload"]["overallStatus"]
    assert (
        overall["status"] == "LOAD_COMPLETED"
        and overall["totalRecords"] == 1
        and overall["fullUri"] == source
    )
    assert status["payload"]["errors"]["errorLogs"] == []
    assert client.list_loader_jobs(limit=5, includeQueuedLoads=False)["payload"]["loadIds"] == [load_id]

    neptune_emulator.control("throttle", {"seconds": 30})
    running = _start(client, source, mode="NEW")
    assert client.cancel_loader_job(loadId=running)["status"] == "200 OK"
    assert client.get_loader_job_status(loadId=running)["payload"]["overallStatus"]["status"] == (
        "LOAD_CANCELLED_BY_USER"
    )


def test_errors_are_the_models_typed_exceptions(neptune_emulator: NeptuneEmulator, s3_source: Any) -> None:
    client = sdk(neptune_emulator)
    source = s3_source({"a.nt": NT})
    load_id = _start(client, source)
    neptune_emulator.wait_for_load(load_id)
    with pytest.raises(client.exceptions.BulkLoadIdNotFoundException) as ended:
        client.cancel_loader_job(loadId=load_id)  # ended: Cancel Job's 404
    assert ended.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert (
        ended.value.response["detailedMessage"]
        == f"The load with id = {load_id} does not exist or not active"
    )
    with pytest.raises(client.exceptions.BulkLoadIdNotFoundException):
        client.get_loader_job_status(loadId="00000000-0000-0000-0000-000000000000")
    with pytest.raises(client.exceptions.BadRequestException) as unattached:
        client.start_loader_job(
            source=source, format="ntriples", s3BucketRegion=TEST_REGION,
            iamRoleArn="arn:aws:iam::123456789012:role/NotAttached",
        )  # fmt: skip
    assert unattached.value.response["detailedMessage"].startswith(
        "Couldn't find the AWS credential for iam_role_arn"
    )
    with pytest.raises(client.exceptions.BadRequestException) as empty:
        _start(client, source + "nothing-here/")
    assert "does not exist/not reachable" in empty.value.response["detailedMessage"]
    with pytest.raises(client.exceptions.BadRequestException):
        client.list_loader_jobs(limit=101)  # the model's bound is not checked by the SDK: Neptune's 400


def test_sigv4_emulator_takes_the_sdks_signature_and_refuses_unsigned_calls(
    neptune_emulator_sigv4: NeptuneEmulator, s3_source: Any
) -> None:
    signed = sdk(
        neptune_emulator_sigv4,
        aws_access_key_id=NEPTUNE_SIGV4_ACCESS_KEY,
        aws_secret_access_key=NEPTUNE_SIGV4_SECRET_KEY,
        aws_session_token=NEPTUNE_SIGV4_SESSION_TOKEN,
    )
    load_id = _start(signed, s3_source({"a.nt": NT}))
    assert signed.get_loader_job_status(loadId=load_id)["status"] == "200 OK"
    assert signed.list_loader_jobs()["payload"]["loadIds"] == [load_id]

    unsigned = sdk(neptune_emulator_sigv4, config=NO_RETRIES.merge(Config(signature_version=UNSIGNED)))
    with pytest.raises(unsigned.exceptions.AccessDeniedException) as refused:
        unsigned.list_loader_jobs()
    body = refused.value.response
    assert body["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Neptune's error shape: code, requestId, detailedMessage (Graph Engine Error Messages and Codes).
    assert (
        body["code"] == "AccessDeniedException" and body["detailedMessage"] == "Missing Authentication Token"
    )
    assert body["requestId"]
