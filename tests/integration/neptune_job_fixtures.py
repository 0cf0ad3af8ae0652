"""``make_job``: a job record in a fresh job table (moto) with its output ``data/`` prefix in a fresh bucket,
and the settings a Neptune load needs (role, format) in the environment."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN

NT = "<http://a/s> <http://a/p> <http://a/o> .\n<http://a/s> <http://a/p> <http://a/o2> .\n"


class Job:
    """A job record in a fresh table, with its output ``data/`` prefix uploaded to a fresh bucket."""

    def __init__(self, metadata: JobMetadataHook, job_id: str, bucket: str, dataset: str) -> None:
        self.metadata, self.job_id, self.bucket, self.dataset = metadata, job_id, bucket, dataset

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.dataset}/{self.job_id}/data/"

    def record(self) -> dict[str, Any]:
        return self.metadata.get_job(self.job_id) or {}


@pytest.fixture(name="make_job")
def make_job_fixture(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Job]:
    table = f"jobs-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("JOB_TABLE_NAME", table)
    monkeypatch.setenv("NEPTUNE_IAM_ROLE_ARN", TEST_ROLE_ARN)
    monkeypatch.setenv("NEPTUNE_SOURCE_FORMAT", "ntriples")
    metadata = JobMetadataHook(aws_conn_id=None, table_name=table)
    metadata.create_table_if_missing()

    def make(files: dict[str, str] | None = None, **jobspec: Any) -> Job:
        dataset = "NEP" + uuid.uuid4().hex[:6].upper()
        bucket = f"neptune-out-{uuid.uuid4().hex[:10]}"
        s3 = boto3.client("s3", region_name=TEST_REGION)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
        job_id = metadata.allocate_job(
            dataset, jobspec={"dataset": dataset, "output_bucket": bucket, **jobspec}
        )
        for name, body in (files or {"part-0001.nt": NT}).items():
            s3.put_object(Bucket=bucket, Key=f"{dataset}/{job_id}/data/{name}", Body=body.encode())
        # What must never be loaded: the job's log sits next to data/, not in it.
        s3.put_object(Bucket=bucket, Key=f"{dataset}/{job_id}/rdfox.log", Body=b"not RDF")
        return Job(metadata, job_id, bucket, dataset)

    return make
