"""Fault-test fixtures: an AWS world of our own (moto's server as a process, provisioned like the local stack)
and a context-like dict to call operators' ``execute`` with, as a worker would.

One moto server per test process (xdist worker), reset at the start of each module: the settings live in SSM
under one fixed path, so a module must not see another's settings, records or messages. A reset empties
every service as a new server would, without the second or two a server start costs (tests of one worker run
one at a time; ``--dist loadfile`` keeps a module on one worker).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import TEST_REGION, free_port, start_process, stop_process, wait_for_http

# The buckets the bad-jobspec corpus names (so that its cases fail for what they are meant to show).
EXTRA_BUCKETS = ("rdfox-in", "rdfox-out")


@dataclass
class FakeTI:
    """What operators use of ``context["ti"]``: XComs pushed, a logger, the try number."""

    xcoms: dict[str, Any] = field(default_factory=dict)
    try_number: int = 1
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("tests.faults.ti"))

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcoms.get(key)


@dataclass
class AwsWorld:
    url: str
    resources: dict[str, Any]
    session: boto3.session.Session
    _seen: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def client(self, name: str) -> Any:
        return self.session.client(name, endpoint_url=self.url)

    @property
    def input_bucket(self) -> str:
        return str(self.resources["input_bucket"])

    @property
    def output_bucket(self) -> str:
        return str(self.resources["output_bucket"])

    def context(self, run_id: str | None = None, **params: Any) -> dict[str, Any]:
        run_id = run_id or f"manual__fault-{uuid.uuid4().hex[:12]}"
        return {
            "params": {"jobspec": {}, "jobspec_uri": "", **params},
            "run_id": run_id,
            "ti": FakeTI(),
            "dag": type("Dag", (), {"dag_id": "rdfox_neptune_pipeline"})(),
            "triggering_asset_events": {},
        }

    def job_record(self, job_id: str) -> dict[str, Any] | None:
        from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

        return JobMetadataHook(aws_conn_id="aws_default").get_job(job_id)

    def jobs_of(self, dataset: str) -> list[dict[str, Any]]:
        table = self.session.resource("dynamodb", endpoint_url=self.url).Table(self.resources["job_table"])
        return table.query(
            KeyConditionExpression="dataset = :d",
            ExpressionAttributeValues={":d": dataset},
            ConsistentRead=True,
        ).get("Items", [])

    def notifications_for(self, job_id: str, wait_seconds: float = 5.0) -> list[dict[str, Any]]:
        """SNS messages (delivered to the topic's SQS subscription) that name ``job_id``.

        Messages are consumed once and kept by job id, so tests reading in any order each find theirs.
        """
        sqs = self.client("sqs")
        deadline = time.monotonic() + wait_seconds
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.resources["notification_queue_url"],
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for message in batch:
                body = json.loads(message["Body"])
                attrs = {k: v.get("Value") for k, v in (body.get("MessageAttributes") or {}).items()}
                self._seen.setdefault(str(attrs.get("job_id")), []).append(body)
                sqs.delete_message(
                    QueueUrl=self.resources["notification_queue_url"], ReceiptHandle=message["ReceiptHandle"]
                )
            if self._seen.get(job_id):
                return self._seen[job_id]
            if time.monotonic() > deadline:
                return self._seen.get(job_id, [])


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v.get("Value") for k, v in (message.get("MessageAttributes") or {}).items()}


def start_moto(log_dir: Path) -> tuple[Any, str]:
    port = free_port()
    moto_bin = str(Path(sys.executable).with_name("moto_server"))
    proc = start_process([moto_bin, "-H", "127.0.0.1", "-p", str(port)], log_dir / "moto.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", proc=proc)
    except Exception:
        stop_process(proc)
        raise
    return proc, url


@pytest.fixture(scope="session")
def fault_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fault modules' moto server (not the integration tests' ``moto_server``); yields its URL."""
    proc, url = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield url
    finally:
        stop_process(proc)


def reset_moto(url: str) -> None:
    """Empty every moto service, as a freshly started server is."""
    request = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30):  # a loopback URL of our own server
        pass


@pytest.fixture(scope="module")
def aws_world(fault_moto: str) -> Iterator[AwsWorld]:
    """This module's AWS world: the shared moto server, emptied, then the pipeline's buckets, job table, topic
    (+ queue) and settings."""
    from rdfox_local.compose_setup import LocalProvisioner, LocalStackConfig
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    url = fault_moto
    reset_moto(url)
    clear_settings_cache()  # the previous module's SSM layer, if it read one
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("AWS_ENDPOINT_URL", url)
        mp.setenv("AWS_DEFAULT_REGION", TEST_REGION)
        mp.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": url, "region_name": TEST_REGION},
                }
            ),
        )
        for name in ("IMAGE_REGISTRY_ALLOWLIST", "JOB_TABLE_NAME", "BULKLOAD_TOPIC"):
            mp.delenv(name, raising=False)
        config = LocalStackConfig(
            region=TEST_REGION,
            neptune_endpoint=None,  # each test's own connection names its emulator (or proxy)
            extra_settings={"NEPTUNE_LOAD_POLL_SECONDS": "1", "NEPTUNE_SOURCE_FORMAT": "ntriples"},
        )
        provisioner = LocalProvisioner(config, url)
        summary = provisioner.provision()
        for extra in EXTRA_BUCKETS:
            provisioner.ensure_bucket(extra)
        queue_url = provisioner.sqs.get_queue_url(QueueName=config.notification_queue)["QueueUrl"]
        resources = {
            "input_bucket": config.input_bucket,
            "output_bucket": config.output_bucket,
            "job_table": config.job_table,
            "topic_arn": summary["settings"]["BULKLOAD_TOPIC"],
            "notification_queue_url": queue_url,
        }
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=TEST_REGION
        )
        yield AwsWorld(url, resources, session)
    finally:
        mp.undo()
        clear_settings_cache()
