"""domain/task_failure.py: which failure status and reason a failed job task leaves (issue 13, scenario 6)."""

from __future__ import annotations

import pytest
from rdfox_pipeline.domain.statuses import FAILURE_STATUSES, FINISHED_STATUSES, JobStatus
from rdfox_pipeline.domain.task_failure import (
    IN_FLIGHT_STATUSES,
    describe_exception,
    failure_reason,
    failure_status_for,
    first_failed_task,
)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("CREATED", "SCHEDULE_FAILED"),
        ("SCHEDULED", "INFERENCE_FAILED"),
        ("INFERENCE_COMPLETE", "NEPTUNE_LOAD_FAILED"),
        ("NEPTUNE_LOAD_NOT_STARTED", "NEPTUNE_LOAD_FAILED"),
        ("NEPTUNE_LOAD_IN_PROGRESS", "NEPTUNE_LOAD_FAILED"),
    ],
)
def test_the_stage_the_job_was_in_gives_its_failure_status(current: str, expected: str) -> None:
    assert failure_status_for(current) == JobStatus(expected)


def test_failed_loaded_finished_or_unknown_jobs_are_left_alone() -> None:
    left = FAILURE_STATUSES | FINISHED_STATUSES | {JobStatus.NEPTUNE_LOAD_COMPLETED}
    assert left.isdisjoint(IN_FLIGHT_STATUSES)
    assert IN_FLIGHT_STATUSES | left == set(JobStatus)  # every status is one or the other
    for status in left:
        assert failure_status_for(status.value) is None, status
    assert failure_status_for(None) is None and failure_status_for("NOT_A_STATUS") is None


def test_the_reason_names_task_status_and_cause_on_one_bounded_line() -> None:
    assert failure_reason("reason", "SCHEDULED", "OSError: disk\n  full") == (
        "reason failed while SCHEDULED: OSError: disk full"
    )
    unknown = failure_reason(None, "SCHEDULED", None)
    assert unknown.startswith("a task of the run failed while SCHEDULED: no error reached the job record")
    assert len(failure_reason("reason", "SCHEDULED", "x" * 5000)) == 1000


def test_the_first_failed_job_task_is_the_cause() -> None:
    states = {"register_job": "success", "reason": "failed", "parse_rdfox_log": "upstream_failed",
              "notify_failure": "running", "mark_run_failed": "failed"}  # fmt: skip
    assert first_failed_task(states) == "reason"
    assert first_failed_task({"notify": "failed", "mark_run_failed": "failed"}) is None
    assert first_failed_task({}) is None


def test_exceptions_are_described_by_type_and_message() -> None:
    assert describe_exception(None) is None
    assert describe_exception(ValueError("bad\nvalue")) == "ValueError: bad value"
    assert describe_exception(KeyError()) == "KeyError"
    assert describe_exception(RuntimeError("Trigger timeout")) == (
        "RuntimeError: Trigger timeout (the deferred wait reached its timeout)"
    )
