"""The old job-submitter's jobspec through the DAG's own ``register_job`` against moto's server: accepted, and
the notes on what the pipeline does differently are in the job record (written with it) and the task log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import AwsWorld

SAMPLE = Path(__file__).resolve().parents[2] / "include" / "samples" / "legacy-submitter.rdfoxjob.json"
DATASET = "SAMPLE"


def _legacy(world: AwsWorld, **extra: Any) -> dict[str, Any]:
    raw = json.loads(SAMPLE.read_text())
    return {**raw, "job_bucket": world.input_bucket, "output_bucket": world.output_bucket, **extra}


def _upload(world: AwsWorld, jobspec: dict[str, Any], name: str) -> str:
    s3 = world.client("s3")
    s3.put_object(Bucket=world.input_bucket, Key=f"{DATASET}/part-0001.nt", Body=b"<a:s> <a:p> <a:o> .\n")
    key = f"{DATASET}/{name}.rdfoxjob.json"
    s3.put_object(Bucket=world.input_bucket, Key=key, Body=json.dumps(jobspec).encode())
    return f"s3://{world.input_bucket}/{key}"


def _register(context: dict[str, Any]) -> dict[str, Any]:
    from rdfox_pipeline.operators.job_registration import RegisterJobOperator

    return RegisterJobOperator(task_id="register_job").execute(context)


def test_legacy_submitter_jobspec_is_registered_with_its_notes(
    aws_world: AwsWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = _upload(aws_world, _legacy(aws_world, job_id="SAMPLE_1999-01-01_042"), "legacy")
    context = aws_world.context(jobspec_uri=uri)
    capsys.readouterr()
    registration = _register(context)
    task_log = capsys.readouterr().out  # Airflow's task logger (structlog) writes to stdout here
    job_id = registration["job_id"]
    assert job_id != "SAMPLE_1999-01-01_042"  # the pipeline allocated its own id
    notes = registration["jobspec_notes"]
    keys = {n.split(":", 1)[0] for n in notes}
    assert {"init_container_image", "publisher_container_image", "rdfox_init_container_image"} <= keys
    assert {"auto_shutdown", "job_id"} <= keys
    assert any(
        "24 h" in n for n in notes if n.startswith("auto_shutdown:")
    )  # RDFOX_ENDPOINT_TTL_HOURS default

    record = aws_world.job_record(job_id)
    assert record is not None and record["job_status"] == "CREATED"
    assert record["jobspec_notes"] == notes
    assert record["jobspec"]["images"] == {
        "prepare": None,
        "rdfox": "docker.io/oxfordsemantic/rdfox:7.1.1",  # the operator's RDFOX_IMAGE: the old key names it
        "publish": None,
    }
    assert record["jobspec"]["rdfox"]["keep_endpoint"] is True
    logged = [line for line in task_log.splitlines() if "Jobspec note: " in line]
    assert len(logged) == len(notes)
    for line, note in zip(logged, notes, strict=True):
        assert f"Jobspec note: {note}" in line and "[info" in line  # a note, not a warning or an error

    # A rerun of the same dag run reuses the record (and its notes): still one id for the run.
    again = _register(aws_world.context(run_id=context["run_id"], jobspec_uri=uri))
    assert again["job_id"] == job_id


def test_notes_are_written_with_the_record_itself(aws_world: AwsWorld) -> None:
    """One write: the allocation's put carries the notes (revision 0), no later update adds them."""
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    hook = JobMetadataHook(aws_conn_id="aws_default")
    job_id = hook.allocate_job(DATASET, jobspec={"dataset": DATASET}, jobspec_notes=["job_id: a note"])
    record = hook.get_job(job_id)
    assert record is not None and record["revision"] == 0 and record["jobspec_notes"] == ["job_id: a note"]
    plain = hook.get_job(hook.allocate_job(DATASET, jobspec={"dataset": DATASET}))
    assert plain is not None and "jobspec_notes" not in plain


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"rdfox_container_image": "evil.example.com/rdfox:7"}, "rdfox_container_image"),
        ({"neptune_configuration": {"region": "us-east-1"}}, "neptune_configuration.region"),
    ],
)
def test_refused_at_registration_naming_the_key(
    aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch, patch: dict[str, Any], path: str
) -> None:
    ecr = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/"
    monkeypatch.setenv("IMAGE_REGISTRY_ALLOWLIST", f"{ecr},docker.io/oxfordsemantic/")
    for setting in ("PREPARE_IMAGE", "PUBLISH_IMAGE"):
        monkeypatch.setenv(setting, f"{ecr}rdfox-pipeline/{setting.split('_')[0].lower()}:0.1.0")
    uri = _upload(aws_world, _legacy(aws_world, **patch), "refused")
    context = aws_world.context(jobspec_uri=uri)
    with pytest.raises(Exception) as info:
        _register(context)
    assert str(info.value).startswith(f"{path}: ")
    record = aws_world.job_record(context["ti"].xcoms["failed_job_id"])
    assert record is not None and record["job_status"] == "SCHEDULE_FAILED"
    assert record["error_reason"].startswith(f"{path}: ")
