"""Every bad jobspec of the corpus (tests/data/bad_jobspecs/), delivered the way users deliver jobspecs (an
object in the input bucket, named by the run's ``jobspec_uri``), through the DAG's own ``register_job`` and
``notify_failure`` operators against moto's server:

* a clear one-line error naming the field (the record's ``error_reason``),
* the job recorded as SCHEDULE_FAILED, then ERROR_NOTIFICATION_SENT once the failure notification is out,
* one SNS failure message for the job, whose ``status`` attribute is SCHEDULE_FAILED,
* nothing started: registration fails (so the DAG runs no pod and no load; tests/e2e runs one whole DAG with
  a bad jobspec and counts pods and loads), and the record names no pod and no load.

Operators are called with a context-like dict, as a worker calls them: one ``airflow dags test`` per case
would take minutes for the corpus. Each operator call builds its boto3 clients afresh (seconds on a busy
machine), so the whole path runs for a case of every kind the issue lists; every case of the corpus is
refused by the same ``parse_jobspec`` that ``register_job`` calls (tests/unit/test_bad_jobspecs.py), and
``test_registration_refuses_like_the_domain`` checks that registration is that call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import AwsWorld, attributes

CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad_jobspecs"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())["cases"]
ECR = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/"
FILED_UNDER = "BADINPUT"  # the "<dataset>/" folder the bad jobspecs are uploaded to
# One or more of each kind of bad input that issue 9 lists (all are also in the unit corpus test).
CASES = [
    "cores_as_string.json",  # wrong types
    "memory_as_number.json",
    "cores_huge.json",  # huge numbers
    "memory_exponent_huge.json",
    "dataset_homoglyph.json",  # unicode tricks
    "dataset_rtl_override.json",
    "invalid_utf8.json",
    "dataset_path_traversal.json",  # path traversal
    "old_job_key_traversal.json",
    "unknown_top_level_key.json",  # unknown keys
    "unknown_nested_key.json",
    "image_disallowed_registry.json",  # disallowed images
    "image_registry_prefix_confusion.json",
    "empty.json",  # empty file
    "truncated_json.json",
    "dataset_does_not_exist.json",  # valid jobspec, no such dataset in the input bucket
]


def _expected(name: str) -> dict[str, Any]:
    case = EXPECTED[name]
    return case.get("registration", case)


def _register(world: AwsWorld, body: bytes, name: str) -> tuple[dict[str, Any], BaseException]:
    from rdfox_pipeline.operators.job_registration import RegisterJobOperator

    # A valid jobspec is filed under its own dataset, as users file them (register_job checks that).
    folder = EXPECTED.get(name, {}).get("filed_under", FILED_UNDER)
    key = f"{folder}/{Path(name).stem}.rdfoxjob.json"
    world.client("s3").put_object(Bucket=world.input_bucket, Key=key, Body=body)
    context = world.context(jobspec_uri=f"s3://{world.input_bucket}/{key}")
    with pytest.raises(Exception) as info:
        RegisterJobOperator(task_id="register_job").execute(context)
    return context, info.value


def _notify_failure(context: dict[str, Any]) -> str:
    from rdfox_pipeline.operators.job_notification import JobNotificationOperator

    job_id = context["ti"].xcoms["failed_job_id"]
    JobNotificationOperator(task_id="notify_failure", outcome="failure", job_id=job_id).execute(context)
    return str(job_id)


def _check(world: AwsWorld, context: dict[str, Any], error: BaseException, case: dict[str, Any]) -> None:
    message = str(error)
    assert message.startswith(f"{case['path']}: "), message
    assert case["contains"] in message, message
    assert "return_value" not in context["ti"].xcoms, "a failed registration must give downstream nothing"
    job_id = _notify_failure(context)
    record = world.job_record(job_id)
    assert record is not None
    reason = record["error_reason"]
    assert "\n" not in reason and len(reason) <= 1000
    assert reason.startswith(f"{case['path']}: ") and case["contains"] in reason, reason
    assert record["job_status"] == "ERROR_NOTIFICATION_SENT", record
    # Nothing started: no pod, no load was ever recorded against the job.
    assert not {"pod_name", "neptune_load_id", "neptune_load_source", "rdfox_stats"} & set(record), record
    messages = world.notifications_for(job_id)
    assert len(messages) == 1, messages
    assert attributes(messages[0])["status"] == "SCHEDULE_FAILED"
    assert attributes(messages[0])["outcome"] == "failure"
    assert case["path"] in messages[0]["Message"]


@pytest.mark.parametrize("name", CASES)
def test_bad_jobspec_schedule_failed_and_notified(
    name: str, aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _expected(name)
    if EXPECTED[name].get("allowed_registries"):
        monkeypatch.setenv("IMAGE_REGISTRY_ALLOWLIST", ",".join(EXPECTED[name]["allowed_registries"]))
        # The default images must be allowed ones too, or the settings (not the jobspec) are refused.
        for setting in ("PREPARE_IMAGE", "RDFOX_IMAGE", "PUBLISH_IMAGE"):
            monkeypatch.setenv(setting, f"{ECR}rdfox-pipeline/{setting.split('_')[0].lower()}:0.1.0")
    context, error = _register(aws_world, (CORPUS / name).read_bytes(), name)
    _check(aws_world, context, error, case)


def test_ten_megabyte_jobspec(aws_world: AwsWorld) -> None:
    """Generated here (10 MB are not committed): refused by its size before it is read or parsed."""
    body = json.dumps({"dataset": "SAMPLE", "name": "x" * (10 * 2**20)}).encode()
    assert len(body) > 10 * 2**20
    context, error = _register(aws_world, body, "huge_10mb.json")
    _check(aws_world, context, error, EXPECTED["huge_10mb.json"])


def test_cases_exist() -> None:
    assert set(CASES) <= set(EXPECTED) and all((CORPUS / name).is_file() for name in CASES)


def test_registration_refuses_like_the_domain() -> None:
    """register_job validates with the domain's parse_jobspec_for_run (parse_jobspec, then the boundary),
    so every corpus case is refused there too."""
    import inspect

    from rdfox_pipeline.operators.job_registration import RegisterJobOperator

    source = inspect.getsource(RegisterJobOperator.execute)
    assert "parse_jobspec_for_run(" in source and "_record_invalid(" in source


def test_one_job_record_per_bad_run(aws_world: AwsWorld) -> None:
    """Registration of a bad jobspec writes exactly one record (not one per check that failed)."""
    before = {r["job_id"] for r in aws_world.jobs_of(FILED_UNDER)}
    context, _error = _register(aws_world, b"{}", "empty_object.json")
    after = {r["job_id"] for r in aws_world.jobs_of(FILED_UNDER)}
    assert after - before == {context["ti"].xcoms["failed_job_id"]}
