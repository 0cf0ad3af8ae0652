"""The old job table's fields (issue 12, item 6) written by the sensors beside today's, against real servers:
the job table, S3 and Neptune's DescribeDBClusters on moto's server, the loader on the Neptune emulator."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from rdfox_pipeline.aws.neptune_cluster import find_writer_instance
from rdfox_pipeline.cli.main import main as cli_main
from rdfox_pipeline.hooks.job_metadata import JobMetadataHook
from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor
from rdfox_pipeline.sensors.rdfox_log import RdfoxLogSensor
from rdfox_pipeline.triggers.neptune_load_status import NeptuneLoadStatusTrigger

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_settings")]
NT = "<http://a/s> <http://a/p> <http://a/o> .\n"


@pytest.fixture
def job(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[JobMetadataHook, str]:
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    table = f"jobs-legacy-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("JOB_TABLE_NAME", table)
    clear_settings_cache()
    hook = JobMetadataHook(aws_conn_id=None, table_name=table)
    hook.create_table_if_missing()
    spec = {"dataset": "LEGACY", "job_bucket": "in-bucket", "output_bucket": "out-bucket"}
    return hook, hook.allocate_job("LEGACY", jobspec=spec)


@pytest.fixture
def neptune_cluster(aws_endpoint: str) -> str:
    """A Neptune cluster in moto with a writer and a reader instance; returns its id."""
    client = boto3.client("neptune", region_name=TEST_REGION)
    cluster = f"graph-{uuid.uuid4().hex[:8]}"
    client.create_db_cluster(DBClusterIdentifier=cluster, Engine="neptune")
    for name in (f"{cluster}-w1", f"{cluster}-r1"):
        client.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.r5.large",
            Engine="neptune",
            DBClusterIdentifier=cluster,
        )
    return cluster


def _completed_load_event(s3_source) -> tuple[str, dict]:
    load_id = NeptuneLoaderHook().start_load(
        source=s3_source({"a.nt": NT}), format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION
    )

    async def collect() -> list:
        trigger = NeptuneLoadStatusTrigger(load_id, waiter_delay=0.05, timeout=30)
        return [event async for event in trigger.run()]

    [event] = asyncio.run(collect())
    return load_id, event.payload


def test_writer_instance_from_moto_cluster(neptune_cluster: str) -> None:
    members = boto3.client("neptune", region_name=TEST_REGION).describe_db_clusters(
        DBClusterIdentifier=neptune_cluster
    )["DBClusters"][0]["DBClusterMembers"]
    writer = [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]]
    assert writer == [f"{neptune_cluster}-w1"]  # moto makes the first instance the writer
    client = lambda: boto3.client("neptune", region_name=TEST_REGION)  # noqa: E731
    endpoint = f"https://{neptune_cluster}.cluster-abc123.eu-west-2.neptune.amazonaws.com:8182"
    assert find_writer_instance(client, endpoint) == writer[0]


def test_unknown_cluster_falls_back_to_the_host(aws_endpoint: str, caplog: pytest.LogCaptureFixture) -> None:
    client = lambda: boto3.client("neptune", region_name=TEST_REGION)  # noqa: E731
    with caplog.at_level(logging.WARNING):
        got = find_writer_instance(client, "http://127.0.0.1:8182", cluster_id="no-such-cluster")
    assert got == "127.0.0.1"
    assert "DBClusterNotFoundFault" in caplog.text


def test_completed_load_records_time_and_writer(
    neptune_connection, neptune_emulator, s3_source, job, neptune_cluster, isolated_settings
) -> None:
    metadata, job_id = job
    isolated_settings("NEPTUNE_CLUSTER_ID", neptune_cluster)
    load_id, event = _completed_load_event(s3_source)
    sensor = NeptuneLoadStatusSensor(task_id="wait", load_id=load_id, job_id=job_id, aws_conn_id=None)
    sensor.execute_complete({}, event)
    record = metadata.get_job(job_id)
    assert record["job_status"] == "NEPTUNE_LOAD_COMPLETED"
    assert record["neptune_stats"]["total_records"] == 1  # today's fields stay
    assert record["neptune_writer_instance"] == f"{neptune_cluster}-w1"
    spent = event["payload"]["overallStatus"]["totalTimeSpent"]
    assert record["time_to_load_neptune"] == spent and isinstance(spent, int)


def test_failed_describe_never_fails_the_job(
    neptune_connection, neptune_emulator, s3_source, job, isolated_settings, capfd
) -> None:
    metadata, job_id = job
    isolated_settings("NEPTUNE_CLUSTER_ID", "missing-cluster")
    load_id, event = _completed_load_event(s3_source)
    sensor = NeptuneLoadStatusSensor(task_id="wait", load_id=load_id, job_id=job_id, aws_conn_id=None)
    sensor.execute_complete({}, event)
    record = metadata.get_job(job_id)
    assert record["job_status"] == "NEPTUNE_LOAD_COMPLETED"
    assert record["neptune_writer_instance"] == "127.0.0.1"  # the emulator's host
    logged = "".join(capfd.readouterr())  # the task logger writes to the console
    assert "cannot describe cluster missing-cluster (DBClusterNotFoundFault" in logged


def test_failed_load_records_them_too(neptune_connection, neptune_emulator, s3_source, job) -> None:
    metadata, job_id = job
    neptune_emulator.control("next-load-status", {"status": "LOAD_FAILED"})
    load_id, event = _completed_load_event(s3_source)
    sensor = NeptuneLoadStatusSensor(task_id="wait", load_id=load_id, job_id=job_id, aws_conn_id=None)
    with pytest.raises(Exception, match="ended LOAD_FAILED"):
        sensor.execute_complete({}, event)
    record = metadata.get_job(job_id)
    assert record["job_status"] == "NEPTUNE_LOAD_FAILED"
    assert record["neptune_writer_instance"] == "127.0.0.1"
    assert "time_to_load_neptune" in record


def test_parsed_log_records_old_names_and_jobs_show_prints_them(
    job, reference_dir: Path, capsys: pytest.CaptureFixture[str], cli_stdout_only: None
) -> None:
    metadata, job_id = job
    bucket = f"out-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3", region_name=TEST_REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
    key = f"LEGACY/{job_id}/rdfox.log"
    s3.put_object(Bucket=bucket, Key=key, Body=(reference_dir / "rdfox-5-reference-run.log").read_bytes())
    registration = {
        "job_id": job_id,
        "rdfox_log_uri": f"s3://{bucket}/{key}",
        "jobspec": metadata.get_job(job_id)["jobspec"],
    }
    RdfoxLogSensor(task_id="parse", registration=registration, aws_conn_id=None).execute({})

    stored = boto3.client("dynamodb", region_name=TEST_REGION).get_item(
        TableName=metadata.table_name, Key={"dataset": {"S": "LEGACY"}, "job_key": {"S": job_id[7:]}}
    )["Item"]
    assert stored["memory_usage_gigabytes"] == {"N": "80.274"}  # a number, not text
    raw = stored["rdfox_statistics_raw"]["M"]
    assert raw["LOADTIME"] == {"N": "254"} and raw["partialChainCount"] == {"N": "1337"}
    assert raw["Bytes per entry"] == {"N": "101.891"}

    capsys.readouterr()
    assert cli_main(["jobs", "show", job_id, "--table", metadata.table_name, "--delimiter", "_"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["job_status"] == "INFERENCE_COMPLETE"
    assert shown["rdfox_stats"]["time_total"] == 1875  # today's field stays
    assert shown["rdfox_statistics_raw"]["TOTALTIME"] == 1875
    assert shown["rdfox_statistics_raw"]["Aggregate number of EDB facts"] == 510_506_725
    assert Decimal(str(shown["memory_usage_gigabytes"])) == Decimal("80.274")
