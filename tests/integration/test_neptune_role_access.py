"""Issue 14 item 1: the load's IAM role, attached to the cluster or not, and what it may read in S3.

In-process, against real servers: an emulator (own process, HTTP) whose cluster has two roles attached, the
roles' policies in moto's IAM, the job table, S3, SNS and SQS on moto's server; the DAG's own operator,
sensor, failure callback and failure notification. Each refusal ends the job NEPTUNE_LOAD_FAILED with an
``error_reason`` naming the role and the bucket, and exactly one failure notification that says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from rdfox_local.neptune_emulator.role_access import ensure_loader_role, s3_read_policy
from rdfox_pipeline.compat import AirflowFailException

from tests.conftest import TEST_REGION, stop_process
from tests.integration import test_failure_record as failure_record
from tests.integration.conftest import NeptuneEmulator, _start_emulator, neptune_conn_json
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture
from tests.integration.test_failure_record import Job, fail

# The failure-record module's fixtures: the DAG (its tasks' callbacks) and a job in a fresh table.
dag = failure_record.dag
job = failure_record.job
pytestmark = [pytest.mark.compat, pytest.mark.timeout(120), pytest.mark.usefixtures("no_resume_floor")]

ACCOUNT = "arn:aws:iam::123456789012:role/"
LIST_ONLY_ROLE = ACCOUNT + "neptune-load-list-only"  # attached; may list every bucket, read none
OTHER_BUCKET_ROLE = ACCOUNT + "neptune-load-other-bucket"  # attached; may list and read one other bucket
UNATTACHED_ROLE = ACCOUNT + "neptune-load-not-attached"  # in IAM, reads anything, not attached
GHOST_ROLE = ACCOUNT + "neptune-load-never-created"  # attached, not in IAM
UNTRUSTED_ROLE = ACCOUNT + "neptune-load-ec2-trust"  # attached, reads anything, trusts EC2, not Neptune
NT = "<http://a/s> <http://a/p> <http://a/o> .\n"


@pytest.fixture(scope="module")
def roles_emulator(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NeptuneEmulator]:
    iam = boto3.client("iam", endpoint_url=moto_server, region_name=TEST_REGION)
    list_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::*"}],
    }
    ensure_loader_role(iam, LIST_ONLY_ROLE, list_only)
    ensure_loader_role(iam, OTHER_BUCKET_ROLE, s3_read_policy(["some-other-bucket"]))
    ensure_loader_role(iam, UNATTACHED_ROLE)
    ec2_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    if UNTRUSTED_ROLE.rsplit("/", 1)[1] not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
        iam.create_role(
            RoleName=UNTRUSTED_ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(ec2_trust)
        )
    proc, emulator = _start_emulator(
        moto_server, tmp_path_factory.mktemp("neptune-roles"),
        "--attached-role", LIST_ONLY_ROLE, "--attached-role", OTHER_BUCKET_ROLE,
        "--attached-role", GHOST_ROLE, "--attached-role", UNTRUSTED_ROLE,
    )  # fmt: skip
    try:
        yield emulator
    finally:
        stop_process(proc)


@pytest.fixture
def neptune(roles_emulator: NeptuneEmulator, monkeypatch: pytest.MonkeyPatch) -> NeptuneEmulator:
    roles_emulator.reset()
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", neptune_conn_json(roles_emulator))
    return roles_emulator


def _with_data(job: Job) -> str:
    """Put one data file under the job's data/ prefix; returns the prefix's S3 URI."""
    record = job.record
    prefix = f"{record['dataset']}/{job.job_id}/data/"
    boto3.client("s3").put_object(Bucket=job.output_bucket, Key=f"{prefix}part-0001.nt", Body=NT.encode())
    return f"s3://{job.output_bucket}/{prefix}"


def _start(job: Job, role: str) -> str:
    from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator

    op = NeptuneBulkLoadOperator(
        task_id="start_neptune_load", job_id=job.job_id, iam_role_arn=role, region=TEST_REGION
    )
    return op.execute({})


def _notify_failure(dag: Any, job: Job, topic: str, **states: str) -> None:
    from rdfox_pipeline.operators.job_notification import JobNotificationOperator

    ti = job.ti("notify_failure", register_job="success", reason="success", **states)
    JobNotificationOperator(
        task_id="notify_failure", job_id=job.job_id, outcome="failure", target_arn=topic, table_name=None
    ).execute({"ti": ti, "run_id": ti.run_id, "dag": dag})


def _messages(queue: str) -> list[str]:
    """What the topic delivered to its SQS subscription: the message bodies."""
    sqs = boto3.client("sqs")
    bodies: list[str] = []
    deadline = time.monotonic() + 5
    wait = 1
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        for message in got.get("Messages", []):
            bodies.append(json.loads(message["Body"])["Message"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        if not got.get("Messages") and (wait == 0 or time.monotonic() > deadline):
            break
        wait = 0 if bodies else 1  # moto delivers at publish: once one is in, a second would be too
    return bodies


def _assert_failed_and_notified(
    dag: Any, job: Job, topic_and_queue: tuple[str, str], role: str, **states: str
):
    record = job.record
    assert record["job_status"] == "NEPTUNE_LOAD_FAILED"
    assert role in record["error_reason"] and job.output_bucket in record["error_reason"]
    topic, queue = topic_and_queue
    _notify_failure(dag, job, topic, **states)
    [message] = _messages(queue)
    assert role in message and job.output_bucket in message
    assert job.record["job_status"] == "ERROR_NOTIFICATION_SENT"
    return record


def test_a_role_not_attached_to_the_cluster_is_refused_and_the_job_fails(
    dag: Any, job: Job, neptune: NeptuneEmulator, topic_and_queue: tuple[str, str]
) -> None:
    _with_data(job)
    job.at("INFERENCE_COMPLETE")
    with pytest.raises(
        AirflowFailException, match="Couldn't find the AWS credential for iam_role_arn"
    ) as caught:
        _start(job, UNATTACHED_ROLE)
    assert neptune.list_load_ids() == []  # refused before any load exists
    fail(dag, job.ti("start_neptune_load"), caught.value)
    record = _assert_failed_and_notified(
        dag, job, topic_and_queue, UNATTACHED_ROLE, start_neptune_load="failed"
    )
    assert "NeptuneRequestRejected" in record["error_reason"]


def test_a_role_that_cannot_list_the_bucket_is_refused_at_start(
    dag: Any, job: Job, neptune: NeptuneEmulator, topic_and_queue: tuple[str, str]
) -> None:
    source = _with_data(job)
    job.at("INFERENCE_COMPLETE")
    with pytest.raises(AirflowFailException, match="Unable to perform S3 list operation") as caught:
        _start(job, OTHER_BUCKET_ROLE)
    assert "LoadUrlAccessDeniedException" in str(caught.value) and source in str(caught.value)
    sdk = boto3.client("neptunedata", endpoint_url=neptune.url, region_name=TEST_REGION)
    with pytest.raises(sdk.exceptions.LoadUrlAccessDeniedException):  # the model's typed exception
        sdk.start_loader_job(
            source=source, format="ntriples", s3BucketRegion=TEST_REGION, iamRoleArn=OTHER_BUCKET_ROLE
        )
    fail(dag, job.ti("start_neptune_load"), caught.value)
    _assert_failed_and_notified(dag, job, topic_and_queue, OTHER_BUCKET_ROLE, start_neptune_load="failed")


def test_a_role_that_cannot_read_the_objects_fails_the_load(
    dag: Any, job: Job, neptune: NeptuneEmulator, topic_and_queue: tuple[str, str]
) -> None:
    from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor

    _with_data(job)
    job.at("INFERENCE_COMPLETE")
    load_id = _start(job, LIST_ONLY_ROLE)  # listing is allowed: the load starts ...
    payload = neptune.wait_for_load(load_id)
    assert payload["overallStatus"]["status"] == "LOAD_FAILED"  # ... and its feed is denied
    assert payload["feedCount"] == [{"LOAD_S3_ACCESS_DENIED_ERROR": 1}]
    sensor = NeptuneLoadStatusSensor(
        task_id="wait_for_neptune_load", load_id=load_id, job_id=job.job_id, deferrable=False,
        neptune_endpoint=neptune.url, aws_conn_id="aws_default",
    )  # fmt: skip
    with pytest.raises(AirflowFailException, match="LOAD_S3_ACCESS_DENIED_ERROR") as caught:
        sensor.poke({})
    fail(dag, job.ti("wait_for_neptune_load"), caught.value)
    _assert_failed_and_notified(dag, job, topic_and_queue, LIST_ONLY_ROLE, wait_for_neptune_load="failed")


def test_policies_are_evaluated_deny_first_with_wildcards(
    neptune: NeptuneEmulator, s3_source: Any, moto_server: str
) -> None:
    """A Deny on the object wins over the Allow of the same role; an attached role that is not in IAM, or does
    not trust Neptune, is refused."""
    iam = boto3.client("iam", endpoint_url=moto_server, region_name=TEST_REGION)
    source = s3_source({"a.nt": NT})
    bucket = source.split("/")[2]
    denied = s3_read_policy(["*"])
    denied["Statement"].append(
        {"Effect": "Deny", "Action": "s3:Get*", "Resource": f"arn:aws:s3:::{bucket}/*"}
    )
    ensure_loader_role(iam, LIST_ONLY_ROLE, denied)
    time.sleep(2.1)  # the emulator reads a role's policies again after GRANTS_TTL_SECONDS
    try:
        body = {"source": source, "format": "ntriples", "iamRoleArn": LIST_ONLY_ROLE, "region": TEST_REGION}
        load_id = requests.post(f"{neptune.url}/loader", json=body, timeout=30).json()["payload"]["loadId"]
        payload = neptune.wait_for_load(load_id)
        assert payload["overallStatus"]["status"] == "LOAD_FAILED"
        [error] = payload["errors"]["errorLogs"]
        assert error["errorCode"] == "LOAD_S3_ACCESS_DENIED_ERROR" and LIST_ONLY_ROLE in error["errorMessage"]
    finally:
        ensure_loader_role(iam, LIST_ONLY_ROLE, {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::*"}],
        })  # fmt: skip
    for role, why in (
        (GHOST_ROLE, "no such role in IAM"),
        (UNTRUSTED_ROLE, "cannot be assumed by rds.amazonaws.com"),
    ):
        answer = requests.post(f"{neptune.url}/loader", json={**body, "iamRoleArn": role}, timeout=30)
        assert answer.status_code == 400 and answer.json()["code"] == "BadRequestException"
        message = answer.json()["detailedMessage"]
        assert message.startswith("Couldn't find the AWS credential for iam_role_arn: ")
        assert role in message and why in message
