"""Issue 16 item 2, through the DAG's own ``register_job`` against moto's server: a run started from the
trigger form's fields registers the normalised jobspec that an upload of the same JSON registers, and what the
form's schema cannot refuse, ``register_job`` refuses naming the form's field (the record's error_reason).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.faults.conftest import AwsWorld

DATASET = "FORMRUN"
FORM = {
    "dataset": DATASET,
    "cores": 2,
    "memory": "2Gi",
    "keep_rdfox_endpoint": False,
    "rdfox_endpoint_ttl_hours": None,
    "input_bucket": None,
    "output_bucket": None,
}


@pytest.fixture(scope="module")
def world(aws_world: AwsWorld) -> AwsWorld:
    aws_world.client("s3").put_object(Bucket=aws_world.input_bucket, Key=f"{DATASET}/part-1.nt", Body=b"")
    return aws_world


def _register(world: AwsWorld, **params: Any) -> tuple[dict[str, Any], Any]:
    from rdfox_pipeline.operators.job_registration import RegisterJobOperator

    context = world.context(**params)
    try:
        return context, RegisterJobOperator(task_id="register_job").execute(context)
    except Exception as exc:
        return context, exc


def test_form_run_registers_what_an_upload_of_the_same_json_registers(world: AwsWorld) -> None:
    _, by_form = _register(world, **FORM)
    key = f"{DATASET}/same.rdfoxjob.json"
    document = {"dataset": DATASET, "resources": {"cores": 2, "memory": "2Gi"}}
    world.client("s3").put_object(Bucket=world.input_bucket, Key=key, Body=json.dumps(document).encode())
    _, by_upload = _register(world, jobspec_uri=f"s3://{world.input_bucket}/{key}")
    assert isinstance(by_form, dict) and isinstance(by_upload, dict), (by_form, by_upload)
    assert by_form["jobspec"] == by_upload["jobspec"]
    assert by_form["jobspec"]["resources"] == {"cores": 2, "memory": "2Gi"}
    record = world.job_record(by_form["job_id"])
    assert record is not None and record["job_status"] == "CREATED"
    assert record["jobspec"]["resources"] == {"cores": 2, "memory": "2Gi"}


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        # The job-id delimiter is a run-time setting: the form's pattern lets "_" through.
        ({**FORM, "dataset": "FORM_RUN"}, "dataset: 'FORM_RUN' must not contain the job-id delimiter '_'"),
        # A REST conf is not held to the form's schema.
        ({**FORM, "cores": "2"}, "cores (resources.cores): expected an integer, got string"),
        ({**FORM, "output_bucket": "someone-elses"}, "output_bucket: closed to jobspecs"),
        ({**FORM, "jobspec": {"dataset": DATASET}}, "dataset: given together with 'jobspec'"),
        ({**FORM, "dataset": None}, "dataset: is required when the form's fields are used"),
    ],
    ids=["delimiter", "type", "bucket", "mixed", "no-dataset"],
)
def test_what_the_schema_cannot_refuse_register_job_refuses_naming_the_field(
    world: AwsWorld, params: dict[str, Any], reason: str
) -> None:
    context, error = _register(world, **params)
    assert type(error).__name__ == "AirflowFailException", error
    assert str(error).startswith(reason), str(error)
    record = world.job_record(context["ti"].xcoms["failed_job_id"])
    assert record is not None and record["job_status"] == "SCHEDULE_FAILED"
    assert record["error_reason"].startswith(reason)
