"""Every task reads the SSM settings through its ``aws_conn_id`` (issue 13, scenario 10).

``AIRFLOW_CONN_AWS_DEFAULT`` points at this module's moto (which holds the settings); boto3's own default
endpoint points at a dead port. A task that read SSM with boto3's defaults (as ``wait_for_jobspec`` and
``register_job`` did) fails with "cannot read SSM"; each task must still see the settings.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.faults.conftest import AwsWorld

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "rdfox_pipeline"
DATASET = "CONNSETTINGS"


@pytest.fixture
def boto3_defaults_elsewhere(aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """boto3's default endpoint is a dead port; only the Airflow connection reaches moto."""
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # fail at once, not after boto3's retries
    clear_settings_cache()
    yield
    clear_settings_cache()


def _upload(world: AwsWorld, name: str) -> str:
    s3 = world.client("s3")
    s3.put_object(Bucket=world.input_bucket, Key=f"{DATASET}/part-0001.nt", Body=b"<a:s> <a:p> <a:o> .\n")
    key = f"{DATASET}/{name}.rdfoxjob.json"
    jobspec = {"dataset": DATASET, "output_bucket": world.output_bucket}
    s3.put_object(Bucket=world.input_bucket, Key=key, Body=json.dumps(jobspec).encode())
    return key


def test_wait_for_jobspec_reads_settings_through_its_connection(
    aws_world: AwsWorld, boto3_defaults_elsewhere: None
) -> None:
    from rdfox_pipeline.operators.job_registration import JobspecKeySensor

    key = _upload(aws_world, "wait")
    sensor = JobspecKeySensor(task_id="wait_for_jobspec")
    # A bare key: only INPUT_BUCKET (an SSM setting in this world) says which bucket it is in.
    sensor.execute(aws_world.context(jobspec_uri=key))
    assert (sensor.bucket_name, sensor.bucket_key) == (aws_world.input_bucket, [key])


def test_register_job_reads_settings_through_its_connection(
    aws_world: AwsWorld, boto3_defaults_elsewhere: None
) -> None:
    from rdfox_pipeline.operators.job_registration import RegisterJobOperator

    key = _upload(aws_world, "register")
    registration = RegisterJobOperator(task_id="register_job").execute(aws_world.context(jobspec_uri=key))
    assert registration["jobspec_uri"] == f"s3://{aws_world.input_bucket}/{key}"
    record = aws_world.job_record(registration["job_id"])
    assert record is not None and record["job_status"] == "CREATED"


def test_notify_reads_settings_through_its_connection(
    aws_world: AwsWorld, boto3_defaults_elsewhere: None
) -> None:
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook
    from rdfox_pipeline.operators.job_notification import JobNotificationOperator

    job_id = JobMetadataHook(aws_conn_id="aws_default").allocate_job(DATASET)
    JobNotificationOperator(task_id="notify_failure", outcome="failure", job_id=job_id).execute(
        aws_world.context()
    )
    assert aws_world.notifications_for(job_id), "the failure notification went to BULKLOAD_TOPIC (SSM)"


def _settings_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("load_settings", "ssm_settings"):
                yield node


def test_every_task_side_settings_read_names_a_connection() -> None:
    """The tasks not run above (pod, log, load, load wait, links) read settings in these same calls: each
    must pass ``aws_conn_id``. The CLI has no Airflow connections (boto3's defaults are its way), and the
    boto3-level JobTable is given its settings by JobMetadataHook, which names the connection."""
    exempt = {PLUGIN / "cli", PLUGIN / "aws" / "settings_loader.py", PLUGIN / "aws" / "job_table.py"}
    missing: list[str] = []
    checked = 0
    for path in sorted(PLUGIN.rglob("*.py")):
        if any(path == e or e in path.parents for e in exempt):
            continue
        for call in _settings_calls(ast.parse(path.read_text())):
            checked += 1
            if not any(k.arg == "aws_conn_id" for k in call.keywords):
                missing.append(f"{path.relative_to(PLUGIN)}:{call.lineno}")
    assert checked >= 8, checked  # the walk found the reads (pod, log, load, wait, notify, links, hook...)
    assert not missing, f"settings read with boto3's default credentials: {missing}"
