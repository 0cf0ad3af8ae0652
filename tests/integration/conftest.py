"""Integration fixtures: the Neptune loader emulator as its own process over HTTP, reading S3 from moto."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import TEST_REGION, free_port, start_process, stop_process, wait_for_http

NEPTUNE_SIGV4_ACCESS_KEY = "AKIDNEPTUNEEMULATOR"
NEPTUNE_SIGV4_SECRET_KEY = "neptune-emulator-secret"
NEPTUNE_SIGV4_SESSION_TOKEN = "session-token-of-an-assumed-role"
TEST_ROLE_ARN = "arn:aws:iam::123456789012:role/NeptuneLoadFromS3"
ACTIVE = ("LOAD_NOT_STARTED", "LOAD_IN_QUEUE", "LOAD_IN_PROGRESS")


@dataclass(frozen=True)
class NeptuneEmulator:
    """A running emulator: its URL plus helpers for the ``/_emulator/`` controls."""

    url: str
    port: int

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def control(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call("POST", f"/_emulator/{name}", body or {})

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/stats")

    def reset(self) -> None:
        self.control("reset")

    def load_request(self, load_id: str) -> dict[str, Any]:
        """The POST /loader parameters the load was started with, as the emulator received them."""
        return self._call("GET", f"/_emulator/requests/{load_id}")

    def list_load_ids(self) -> list[str]:
        return self._call("GET", "/loader")["payload"]["loadIds"]

    def load_status(self, load_id: str, query: str | None = None) -> dict[str, Any]:
        """Status with details and all errors (unsigned control endpoint), or GET /loader with ``query``."""
        if query is None:
            return self._call("GET", f"/_emulator/loads/{load_id}")
        return self._call("GET", f"/loader/{load_id}?{query}")["payload"]

    def wait_for_load(self, load_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            payload = self.load_status(load_id)
            if payload["overallStatus"]["status"] not in ACTIVE or time.monotonic() > deadline:
                return payload
            time.sleep(0.05)


def _start_emulator(moto_server: str, log_dir: Path, *extra: str) -> tuple[Any, NeptuneEmulator]:
    """An emulator whose cluster has TEST_ROLE_ARN attached, that role in moto's IAM reading any bucket."""
    import boto3
    from rdfox_local.neptune_emulator.role_access import ensure_loader_role

    ensure_loader_role(boto3.client("iam", endpoint_url=moto_server, region_name=TEST_REGION), TEST_ROLE_ARN)
    port = free_port()
    args = [sys.executable, "-m", "rdfox_local.neptune_emulator", "--host", "127.0.0.1", "--port", str(port),
            "--s3-endpoint", moto_server, "--region", TEST_REGION,
            "--attached-role", TEST_ROLE_ARN, *extra]  # fmt: skip
    proc = start_process(args, log_dir / f"neptune-emulator-{port}.log")
    emulator = NeptuneEmulator(f"http://127.0.0.1:{port}", port)
    try:
        wait_for_http(f"{emulator.url}/_emulator/stats", proc=proc)
    except Exception:
        stop_process(proc)
        raise
    return proc, emulator


@pytest.fixture(scope="session")
def neptune_emulator_process(
    moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NeptuneEmulator]:
    proc, emulator = _start_emulator(moto_server, tmp_path_factory.mktemp("neptune"))
    try:
        yield emulator
    finally:
        stop_process(proc)


@pytest.fixture
def neptune_emulator(neptune_emulator_process: NeptuneEmulator) -> NeptuneEmulator:
    """The session's emulator, reset (no loads, empty store, no faults) for this test."""
    neptune_emulator_process.reset()
    return neptune_emulator_process


@pytest.fixture(scope="session")
def neptune_emulator_sigv4_process(
    moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NeptuneEmulator]:
    proc, emulator = _start_emulator(
        moto_server, tmp_path_factory.mktemp("neptune-sigv4"),
        "--sigv4-access-key", NEPTUNE_SIGV4_ACCESS_KEY, "--sigv4-secret-key", NEPTUNE_SIGV4_SECRET_KEY,
        "--sigv4-session-token", NEPTUNE_SIGV4_SESSION_TOKEN,
    )  # fmt: skip
    try:
        yield emulator
    finally:
        stop_process(proc)


@pytest.fixture
def neptune_emulator_sigv4(neptune_emulator_sigv4_process: NeptuneEmulator) -> NeptuneEmulator:
    """An emulator that checks SigV4 signatures of NEPTUNE_SIGV4_ACCESS_KEY / NEPTUNE_SIGV4_SECRET_KEY made
    as temporary credentials (session token NEPTUNE_SIGV4_SESSION_TOKEN, as an assumed role has)."""
    neptune_emulator_sigv4_process.reset()
    return neptune_emulator_sigv4_process


def neptune_conn_json(emulator: NeptuneEmulator, **extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "neptune",
            "host": "127.0.0.1",
            "port": emulator.port,
            "extra": {"use_https": False, **extra},
        }
    )


@pytest.fixture
def neptune_connection(neptune_emulator: NeptuneEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Airflow connection ``neptune_default`` -> the emulator over plain HTTP, no IAM auth."""
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", neptune_conn_json(neptune_emulator))
    return "neptune_default"


@pytest.fixture
def s3_source(aws_endpoint: str) -> Callable[..., str]:
    """Upload files to a fresh bucket in moto; returns the ``s3://bucket/prefix/`` URI to load."""
    import boto3

    s3 = boto3.client("s3", region_name=TEST_REGION)

    def upload(files: dict[str, bytes | str], prefix: str = "DATASET/DATASET_2021-08-01_000/data/") -> str:
        bucket = f"neptune-src-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
        for name, body in files.items():
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}{name}", Body=body.encode() if isinstance(body, str) else body
            )
        return f"s3://{bucket}/{prefix}"

    return upload


def load_body(source: str, fmt: str = "ntriples", **extra: Any) -> dict[str, Any]:
    return {"source": source, "format": fmt, "iamRoleArn": TEST_ROLE_ARN, "region": TEST_REGION, **extra}


# The Kubernetes API emulator (issue 5): fixtures live in their own module, imported here to register them.
from tests.integration.k8s_emulator_fixtures import k8s_emulator, k8s_emulator_process  # noqa: E402, F401

# One job of the RDFox pod operator run in-process on the emulator (issue 13, scenarios 3 and 4).
from tests.integration.pod_job_fixtures import pod_world  # noqa: E402, F401


@pytest.fixture
def topic_and_queue(aws_default_connection: str) -> tuple[str, str]:
    """A topic with an SQS subscription (raw delivery off: the queue gets the SNS envelope and attributes)."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    suffix = uuid.uuid4().hex[:10]
    topic_arn = sns.create_topic(Name=f"bulkload-{suffix}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"notes-{suffix}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"])
    return topic_arn, queue_url
