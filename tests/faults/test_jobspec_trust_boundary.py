"""Issue 18 items 1 and 2 through the DAG's own ``register_job`` against moto's server: a jobspec that sets a
closed field, that is filed under another dataset's folder or that lies outside the input bucket, and a
deployment without a registry allow-list, are each recorded SCHEDULE_FAILED with the reason, before any pod.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.conftest import EXTRA_BUCKETS, AwsWorld

DATASET = "TRUSTED"
HOSTILE = {
    "dataset": DATASET,
    "kubernetes": {"namespace": "kube-system", "service_account": "cluster-admin"},
    "rdfox": {"license_secret_name": "aws-credentials"},
    "images": {"rdfox": "evil.example.com/rdfox:7"},
}


@pytest.fixture(scope="module", autouse=True)
def _dataset(aws_world: AwsWorld) -> None:
    s3 = aws_world.client("s3")
    for dataset in (DATASET, "OTHER"):
        s3.put_object(
            Bucket=aws_world.input_bucket, Key=f"{dataset}/part-1.nt", Body=b"<a:s> <a:p> <a:o> .\n"
        )


def _put(world: AwsWorld, key: str, jobspec: dict[str, Any], bucket: str | None = None) -> str:
    bucket = bucket or world.input_bucket
    world.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(jobspec).encode())
    return f"s3://{bucket}/{key}"


def _register(context: dict[str, Any]) -> Any:
    from rdfox_pipeline.operators.job_registration import RegisterJobOperator

    return RegisterJobOperator(task_id="register_job").execute(context)


def _refused(world: AwsWorld, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    with pytest.raises(Exception) as info:
        _register(context)
    assert "return_value" not in context["ti"].xcoms
    record = world.job_record(context["ti"].xcoms["failed_job_id"])
    assert record is not None and record["job_status"] == "SCHEDULE_FAILED", record
    assert record["error_reason"] == " ".join(str(info.value).split())
    assert "pod_name" not in record
    return str(info.value), record


def _asset_event(bucket: str, key: str) -> dict[str, Any]:
    body = {
        "Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
        ]
    }
    return {"extra": {"payload": {"message_batch": [{"Body": json.dumps(body)}]}}}


def test_the_hostile_jobspec_is_schedule_failed_naming_a_field(aws_world: AwsWorld) -> None:
    uri = _put(aws_world, f"{DATASET}/hostile.rdfoxjob.json", HOSTILE)
    message, record = _refused(aws_world, aws_world.context(jobspec_uri=uri))
    assert message.split(":", 1)[0] in {"images.rdfox", "kubernetes.namespace"}
    assert "JOBSPEC_ALLOWED_FIELDS" in message
    assert record["dataset"] == DATASET


@pytest.mark.parametrize(
    ("jobspec", "path"),
    [
        ({"dataset": DATASET, "kubernetes": {"namespace": "kube-system"}}, "kubernetes.namespace"),
        ({"dataset": DATASET, "settings": {"BULKLOAD_TOPIC": "arn:aws:sns:eu-west-2:123456789012:x"}},
         "settings.BULKLOAD_TOPIC"),
        ({"job_key": DATASET, "namespace": "kube-system"}, "namespace"),
        ({"dataset": DATASET, "resources": {"cores": 500}}, "resources.cores"),
    ],
)  # fmt: skip
def test_closed_fields_and_caps_are_schedule_failed_inline(
    aws_world: AwsWorld, jobspec: dict[str, Any], path: str
) -> None:
    message, _ = _refused(aws_world, aws_world.context(jobspec=jobspec))
    assert message.startswith(f"{path}: ")


def test_dataset_must_be_the_keys_first_segment(aws_world: AwsWorld) -> None:
    uri = _put(aws_world, "OTHER/sneaky.rdfoxjob.json", {"dataset": DATASET})
    message, _ = _refused(aws_world, aws_world.context(jobspec_uri=uri))
    assert message.startswith("dataset: ") and f"'{DATASET}'" in message and "'OTHER'" in message


def test_a_jobspec_at_the_bucket_root_names_no_dataset(aws_world: AwsWorld) -> None:
    uri = _put(aws_world, "loose.rdfoxjob.json", {"dataset": DATASET})
    message, _ = _refused(aws_world, aws_world.context(jobspec_uri=uri))
    assert message.startswith("dataset: ") and "no dataset folder" in message


def test_bucket_must_be_the_input_bucket(aws_world: AwsWorld) -> None:
    other = EXTRA_BUCKETS[0]
    uri = _put(aws_world, f"{DATASET}/elsewhere.rdfoxjob.json", {"dataset": DATASET}, bucket=other)
    message, _ = _refused(aws_world, aws_world.context(jobspec_uri=uri))
    assert message.startswith("jobspec_uri: ") and f"'{other}'" in message
    assert f"'{aws_world.input_bucket}'" in message


def test_asset_events_are_held_to_the_same_rule(aws_world: AwsWorld) -> None:
    from rdfox_pipeline.operators.job_registration import locations_from_asset_events

    key = "OTHER/from-event.rdfoxjob.json"
    _put(aws_world, key, {"dataset": DATASET})
    # An upload's asset event becomes a run of its own with the object's jobspec_uri (fan_out_uploads).
    [location] = locations_from_asset_events([_asset_event(aws_world.input_bucket, key)], "rdfoxjob.json")
    message, record = _refused(aws_world, aws_world.context(jobspec_uri=location.uri))
    assert message.startswith("dataset: ") and "'OTHER'" in message
    assert record["jobspec_uri"] == f"s3://{aws_world.input_bucket}/{key}"


def test_a_well_filed_jobspec_registers(aws_world: AwsWorld) -> None:
    uri = _put(aws_world, f"{DATASET}/fine.rdfoxjob.json", {"dataset": DATASET, "resources": {"cores": 2}})
    registration = _register(aws_world.context(jobspec_uri=uri))
    assert registration["dataset"] == DATASET and registration["jobspec_uri"] == uri


@pytest.fixture
def not_local(aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A deployment that is not the local stack (SSM says so, as an operator's would)."""
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache
    from rdfox_pipeline.domain.settings import SSM_PATH

    ssm = aws_world.client("ssm")
    ssm.put_parameter(Name=f"{SSM_PATH}LOCAL_STACK", Value="false", Type="String", Overwrite=True)
    monkeypatch.delenv("IMAGE_REGISTRY_ALLOWLIST", raising=False)
    clear_settings_cache()
    try:
        yield
    finally:
        ssm.put_parameter(Name=f"{SSM_PATH}LOCAL_STACK", Value="true", Type="String", Overwrite=True)
        clear_settings_cache()


def test_no_pod_without_a_registry_allow_list_outside_the_local_stack(
    aws_world: AwsWorld, not_local: None
) -> None:
    message, _ = _refused(aws_world, aws_world.context(jobspec={"dataset": DATASET}))
    assert message.startswith("IMAGE_REGISTRY_ALLOWLIST: is empty")
