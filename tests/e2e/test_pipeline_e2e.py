"""Whole jobs through Airflow (`airflow dags test`) on the local stack: success and each failure path."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _loads_total(stack) -> int:
    return sum(stack.neptune_stats()["loader"]["loads_by_status"].values())


def _new_job(stack, dataset: str, before: set[str]) -> dict:
    new = sorted(stack.demo.job_ids(dataset) - before)
    assert len(new) == 1, f"expected one new job of {dataset}, got {new}"
    return stack.demo.job_record(new[0], dataset)


def _attributes(message: dict) -> dict[str, str]:
    return {k: v.get("Value") for k, v in (message.get("MessageAttributes") or {}).items()}


def test_success_end_to_end(local_stack, tmp_path) -> None:
    """The demo's own path: jobspec uploaded to S3, run by URI, SUCCESS_NOTIFICATION_SENT with real counts."""
    result = local_stack.demo.run(tmp_path)
    assert result.status == "SUCCESS_NOTIFICATION_SENT", result
    assert result.inferred_triples and result.inferred_triples > 0
    assert result.loaded_triples and result.loaded_triples > 0
    assert result.neptune_query_count and result.neptune_query_count >= result.loaded_triples
    assert result.notification_subject and len(result.notification_subject) <= 100
    record = local_stack.demo.job_record(result.job_id)
    assert record["pod_name"] and record["neptune_load_id"] and record["rdfox_log_uri"].endswith("rdfox.log")
    assert record["dag_run_id"]
    # The summary's last line is one JSON object with exactly the documented keys.
    assert set(json.loads(result.summary_json())) == {
        "job_id",
        "status",
        "inferred_triples",
        "loaded_triples",
        "neptune_query_count",
        "notification_subject",
    }


def test_bad_rules_inference_failed(local_stack) -> None:
    dataset = "BADRULES"
    local_stack.upload_dataset(dataset, extra={"broken.dlog": "[?x, :p, ?y] :- [?x, :q, ?y ."}, rules=False)
    before = local_stack.demo.job_ids(dataset)
    code, _log = local_stack.run_dag({"jobspec": local_stack.jobspec(dataset)}, "bad-rules")
    assert code != 0  # a failed job is a failed run (mark_run_failed), not a green one
    record = _new_job(local_stack, dataset, before)
    assert record["job_status"] == "ERROR_NOTIFICATION_SENT"
    assert "rdfox.log" in record["error_reason"], record["error_reason"]
    messages = local_stack.notifications_for(record["job_id"])
    assert messages, "no failure notification"
    assert _attributes(messages[0]).get("status") == "INFERENCE_FAILED"


def test_neptune_load_failed(local_stack) -> None:
    dataset = "LOADFAIL"
    local_stack.upload_dataset(dataset)
    local_stack.http_json(local_stack.neptune_url + "/_emulator/next-load-status", {"status": "LOAD_FAILED"})
    before = local_stack.demo.job_ids(dataset)
    code, _log = local_stack.run_dag({"jobspec": local_stack.jobspec(dataset)}, "load-failed")
    assert code != 0
    record = _new_job(local_stack, dataset, before)
    assert record["job_status"] == "ERROR_NOTIFICATION_SENT"
    assert record.get("rdfox_stats"), "reasoning should have completed before the load failed"
    messages = local_stack.notifications_for(record["job_id"])
    assert messages and _attributes(messages[0]).get("status") == "NEPTUNE_LOAD_FAILED"


def test_invalid_jobspec_schedule_failed_and_nothing_started(local_stack) -> None:
    dataset = "BADSPEC"
    pods_before = len(local_stack.pods())
    loads_before = _loads_total(local_stack)
    before = local_stack.demo.job_ids(dataset)
    bad = local_stack.jobspec(dataset, resources={"cores": "four", "memory": "1Gi"})
    code, _log = local_stack.run_dag({"jobspec": bad}, "invalid-jobspec")
    assert code != 0
    record = _new_job(local_stack, dataset, before)
    assert record["job_status"] == "ERROR_NOTIFICATION_SENT"
    assert record["error_reason"].startswith("resources.cores"), record["error_reason"]
    assert "\n" not in record["error_reason"]
    messages = local_stack.notifications_for(record["job_id"])
    assert messages and _attributes(messages[0]).get("status") == "SCHEDULE_FAILED"
    # Nothing expensive started: no pod, no Neptune load.
    assert len(local_stack.pods()) == pods_before
    assert not [p for p in local_stack.pods() if "badspec" in p["metadata"]["name"]]
    assert _loads_total(local_stack) == loads_before
