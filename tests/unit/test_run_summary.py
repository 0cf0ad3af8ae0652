"""Issue 16 item 3: the run's headline figures from its job record (the notify tasks' ``job_summary``)."""

from __future__ import annotations

from rdfox_pipeline.notifications.summary import run_summary


def test_summary_of_a_finished_job_has_the_headline_figures() -> None:
    record = {
        "job_id": "DS_2026-01-01_001",
        "dataset": "DS",
        "job_status": "SUCCESS_NOTIFICATION_SENT",
        "rdfox_stats": {"triples_input_amount": 1000, "triples_materialised_amount": 250, "counts": {}},
        "neptune_stats": {"total_records": 1250, "total_duplicates": 3, "status": "LOAD_COMPLETED"},
        "neptune_load_id": "load-1",
        "output_prefix": "s3://out/DS/DS_2026-01-01_001/",
        "jobspec": {"dataset": "DS"},
    }
    assert run_summary(record) == {
        "job_id": "DS_2026-01-01_001",
        "dataset": "DS",
        "status": "SUCCESS_NOTIFICATION_SENT",
        "inferred_triples": 250,
        "input_triples": 1000,
        "loaded_triples": 1250,
        "already_in_neptune": 3,
        "neptune_load_id": "load-1",
        "output_prefix": "s3://out/DS/DS_2026-01-01_001/",
    }


def test_summary_of_a_failed_job_says_why_without_secrets() -> None:
    # DynamoDB gives numbers back as Decimal; a failed job has no load figures.
    from decimal import Decimal

    record = {
        "job_id": "DS_2026-01-01_002",
        "job_status": "ERROR_NOTIFICATION_SENT",
        "rdfox_stats": {"triples_materialised_amount": Decimal(7), "triples_input_amount": True},
        "error_reason": "reason: pod failed\n  url https://user:hunter2pass@example.com/x token s3cr3t-value",
    }
    summary = run_summary(record, secrets=["s3cr3t-value"])
    assert summary["inferred_triples"] == 7 and summary["input_triples"] is None
    assert summary["loaded_triples"] is None and summary["status"] == "ERROR_NOTIFICATION_SENT"
    assert "hunter2pass" not in summary["error_reason"] and "s3cr3t-value" not in summary["error_reason"]
    assert summary["error_reason"].startswith("reason: pod failed url https://")
