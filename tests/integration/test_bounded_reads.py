"""Issue 18 item 6: every S3 read of a log or a jobspec reads at most the cap plus one byte, on moto's server.

A too-big object is refused with its size from S3's Content-Range; the bytes S3 sent are checked through
the responses (botocore's after-call event) and the bytes read through botocore's StreamingBody.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.response
import pytest
from rdfox_pipeline.aws.s3_bounded import ObjectTooLarge, read_at_most

from tests.conftest import TEST_REGION
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.timeout(120)]
CAP = 1000


@pytest.fixture
def bucket(aws_endpoint: str) -> str:
    name = f"bounded-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", region_name=TEST_REGION).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": TEST_REGION}
    )
    return name


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every chunk any S3 response body hands out during the test, by size."""
    counts: list[int] = []
    original = botocore.response.StreamingBody.read

    def read(self: Any, amt: int | None = None) -> bytes:
        data = original(self, amt)
        counts.append(len(data))
        return data

    monkeypatch.setattr(botocore.response.StreamingBody, "read", read)
    yield counts


def test_read_at_most_asks_s3_for_cap_plus_one_byte(bucket: str) -> None:
    s3 = boto3.client("s3", region_name=TEST_REGION)
    sent: list[int] = []
    s3.meta.events.register(
        "after-call.s3.GetObject", lambda parsed, **_: sent.append(parsed.get("ContentLength"))
    )
    s3.put_object(Bucket=bucket, Key="big", Body=b"x" * (50 * CAP))
    s3.put_object(Bucket=bucket, Key="exact", Body=b"y" * CAP)
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")

    with pytest.raises(
        ObjectTooLarge, match=rf"s3://{bucket}/big is {50 * CAP} bytes, larger than the {CAP}"
    ):
        read_at_most(s3, bucket, "big", CAP)
    assert sent == [CAP + 1]  # S3 sent one byte over the cap, not the 50 KB object
    assert read_at_most(s3, bucket, "exact", CAP) == b"y" * CAP
    assert sent[-1] == CAP
    assert read_at_most(s3, bucket, "empty", CAP) == b""  # S3 answers 416 to a range of an empty object


def _log_uri(bucket: str, body: bytes) -> str:
    key = "DS/DS_2024-01-01_000/rdfox.log"
    boto3.client("s3", region_name=TEST_REGION).put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def test_the_log_sensor_refuses_a_too_big_log_reading_at_most_the_cap(
    bucket: str, bytes_read: list[int], isolated_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.compat import AirflowFailException
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook
    from rdfox_pipeline.sensors import rdfox_log
    from rdfox_pipeline.sensors.rdfox_log import RdfoxLogSensor

    table = f"jobs-bounded-{uuid.uuid4().hex[:10]}"
    isolated_settings("JOB_TABLE_NAME", table)
    metadata = JobMetadataHook(aws_conn_id=None, table_name=table)
    metadata.create_table_if_missing()
    job_id = metadata.allocate_job("DS", jobspec={"dataset": "DS"})
    monkeypatch.setattr(rdfox_log, "MAX_LOG_BYTES", CAP)
    uri = _log_uri(bucket, b"TOTALTIME-" + b" " * (20 * CAP))
    registration = {"job_id": job_id, "rdfox_log_uri": uri, "jobspec": {"dataset": "DS"}}

    with pytest.raises(AirflowFailException, match=f"is {20 * CAP + 10} bytes, larger than the {CAP} bytes"):
        RdfoxLogSensor(task_id="parse", registration=registration, aws_conn_id=None).execute({})
    assert sum(bytes_read) <= CAP + 1
    record = metadata.get_job(job_id)
    assert record["job_status"] == "INFERENCE_FAILED"
    assert f"larger than the {CAP} bytes" in record["error_reason"]


def test_the_pod_operators_diagnosis_reads_at_most_the_cap(
    bucket: str, bytes_read: list[int], aws_default_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator
    from rdfox_pipeline.sensors import rdfox_log

    monkeypatch.setattr(rdfox_log, "MAX_LOG_BYTES", CAP)
    uri = _log_uri(bucket, b"Error: out of memory\n" + b"x" * (20 * CAP))
    operator = RdfoxPodOperator(
        task_id="reason", registration={"job_id": "DS_2024-01-01_000", "rdfox_log_uri": uri}
    )
    diagnosis, where = operator._log_diagnosis()
    assert where == uri
    assert diagnosis is not None and f"larger than the {CAP} bytes" in diagnosis
    assert sum(bytes_read) <= CAP + 1
