"""docker-compose's one-shot local-setup against moto's server: creates everything, twice (idempotent)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest
from rdfox_local import compose_setup
from rdfox_local.compose_setup import SSM_PATH, LocalProvisioner, LocalStackConfig


def test_ssm_path_and_setting_names_match_the_domain() -> None:
    from rdfox_pipeline.domain.settings import SETTINGS
    from rdfox_pipeline.domain.settings import SSM_PATH as DOMAIN_SSM_PATH

    assert DOMAIN_SSM_PATH == SSM_PATH
    summary_keys = {
        "AWS_DEFAULT_REGION",
        "JOB_TABLE_NAME",
        "BULKLOAD_TOPIC",
        "INPUT_BUCKET",
        "OUTPUT_BUCKET",
        "NEPTUNE_CLUSTER_ENDPOINT",
        "NEPTUNE_IAM_ROLE_ARN",
    }
    assert summary_keys <= set(SETTINGS)


@pytest.fixture(autouse=True)
def _forget_ssm_settings(aws_endpoint: str) -> Iterator[None]:
    """Provisioning writes the pipeline's settings to SSM, where they would win over the environment of
    later tests in this worker (they share its moto server): remove them afterwards."""
    yield
    ssm = boto3.client("ssm", endpoint_url=aws_endpoint, region_name="eu-west-2")
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=SSM_PATH, Recursive=True)
    names = [p["Name"] for page in pages for p in page["Parameters"]]
    for start in range(0, len(names), 10):
        ssm.delete_parameters(Names=names[start : start + 10])


@pytest.fixture
def config() -> LocalStackConfig:
    # Unique names: the moto server is shared by the whole session.
    tag = uuid.uuid4().hex[:8]
    return LocalStackConfig(
        input_bucket=f"in-{tag}",
        output_bucket=f"out-{tag}",
        job_table=f"jobs-{tag}",
        topic_name=f"topic-{tag}",
        notification_queue=f"notes-{tag}",
        jobspec_queue=f"jobspecs-{tag}",
        extra_settings={"LOG_LEVEL": "debug"},
    )


def test_provision_creates_everything_idempotently(
    aws_endpoint: str, config: LocalStackConfig, tmp_path: Path
) -> None:
    provisioner = LocalProvisioner(config, aws_endpoint)
    first = provisioner.provision()
    second = provisioner.provision()  # a restarted local-setup must not fail nor duplicate anything
    assert first == second

    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name=config.region)
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {config.input_bucket, config.output_bucket} <= names

    ddb = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name=config.region)
    table = ddb.describe_table(TableName=config.job_table)["Table"]
    from rdfox_pipeline.aws.job_table import STATUS_INDEX_NAME

    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == [STATUS_INDEX_NAME]

    sns = boto3.client("sns", endpoint_url=aws_endpoint, region_name=config.region)
    topic_arn = first["settings"]["BULKLOAD_TOPIC"]
    subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert len(subs) == 1 and subs[0]["Protocol"] == "sqs"

    ssm = boto3.client("ssm", endpoint_url=aws_endpoint, region_name=config.region)
    params = {
        p["Name"].rsplit("/", 1)[-1]: p["Value"]
        for p in ssm.get_parameters_by_path(Path=SSM_PATH.rstrip("/"))["Parameters"]
    }
    assert params["JOB_TABLE_NAME"] == config.job_table
    assert params["BULKLOAD_TOPIC"] == topic_arn
    assert params["LOG_LEVEL"] == "debug"

    # A notification reaches the subscribed queue, and a jobspec upload reaches the jobspec queue.
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name=config.region)
    sns.publish(TopicArn=topic_arn, Subject="hello", Message="world")
    notes_url = sqs.get_queue_url(QueueName=config.notification_queue)["QueueUrl"]
    body = json.loads(sqs.receive_message(QueueUrl=notes_url, WaitTimeSeconds=2)["Messages"][0]["Body"])
    assert body["Message"] == "world"

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.dlog").write_text("[?x, :p, ?y] :- [?y, :p, ?x] .\n")
    (tmp_path / "job.rdfoxjob.json").write_text("{}")
    assert provisioner.upload_dir(tmp_path, "DS") == 2
    assert s3.head_object(Bucket=config.input_bucket, Key="DS/rules/r.dlog")["ContentLength"] > 0
    jobs_url = sqs.get_queue_url(QueueName=config.jobspec_queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=jobs_url, WaitTimeSeconds=2, MaxNumberOfMessages=10)["Messages"]
    records = [r for m in messages for r in json.loads(m["Body"]).get("Records", [])]
    keys = [unquote_plus(r["s3"]["object"]["key"]) for r in records]  # S3 events URL-encode keys
    assert keys == ["DS/job.rdfoxjob.json"]  # the suffix filter keeps the rules file out


def test_main_prints_a_summary_and_rejects_bad_settings(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("INPUT_BUCKET", f"in-{tag}")
    monkeypatch.setenv("OUTPUT_BUCKET", f"out-{tag}")
    monkeypatch.setenv("JOB_TABLE_NAME", f"jobs-{tag}")
    assert compose_setup.main(["--aws-endpoint", aws_endpoint, "--setting", "bad"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert compose_setup.main(["--aws-endpoint", aws_endpoint]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["settings"]["INPUT_BUCKET"] == f"in-{tag}"


def test_sample_job_and_k8s_secrets(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # What docker-compose's local-setup runs: the sample job lands where the DAG form's defaults point.
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("INPUT_BUCKET", f"in-{tag}")
    monkeypatch.setenv("OUTPUT_BUCKET", f"out-{tag}")
    monkeypatch.setenv("JOB_TABLE_NAME", f"jobs-{tag}")
    secrets_dir = tmp_path / "k8s-secrets"
    argv = [
        "--aws-endpoint",
        aws_endpoint,
        "--sample-dataset",
        "SAMPLE",
        "--k8s-secrets-dir",
        str(secrets_dir),
    ]
    assert compose_setup.main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["k8s_secrets"] == ["rdfox-password"]
    password_file = secrets_dir / "rdfox-password" / "password"
    password = password_file.read_text()
    assert len(password) >= 16 and password not in json.dumps(summary)  # never printed
    assert password_file.stat().st_mode & 0o077 == 0

    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="eu-west-2")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=f"in-{tag}", Prefix="SAMPLE/")["Contents"]}
    samples = compose_setup.default_samples_dir()
    expected = {
        f"SAMPLE/{p.name}" for p in samples.iterdir() if p.name.endswith(compose_setup.SAMPLE_SUFFIXES)
    }
    assert expected <= keys
    assert "SAMPLE/sample.rdfoxjob.json" in keys
    data = sorted(k for k in keys if k.endswith(".nt"))
    assert data, "the generated transactions"
    assert summary["sample_job"] == {"dataset": "SAMPLE", "files": len(keys)}
    first = s3.get_object(Bucket=f"in-{tag}", Key=data[0])["Body"].read()

    # A restart keeps the password and uploads the same bytes.
    assert compose_setup.main(argv) == 0
    capsys.readouterr()
    assert password_file.read_text() == password
    assert s3.get_object(Bucket=f"in-{tag}", Key=data[0])["Body"].read() == first

    # A missing samples directory is one clear error.
    assert compose_setup.main([*argv, "--samples-dir", str(tmp_path / "nope")]) == 2
    assert "--samples-dir" in capsys.readouterr().err
