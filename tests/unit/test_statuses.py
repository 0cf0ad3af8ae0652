"""Job statuses: every DESIGN status; Neptune loader codes map to NEPTUNE_<code>."""

from __future__ import annotations

import pytest
from rdfox_pipeline.domain.statuses import (
    FAILURE_STATUSES,
    FINISHED_STATUSES,
    NEPTUNE_ACTIVE_LOAD_STATUSES,
    NEPTUNE_TERMINAL_OK,
    JobStatus,
    neptune_job_status,
    parse_job_status,
)

DESIGN = """PRE_CREATE, CREATED, SCHEDULED,
  INFERENCE_COMPLETE, SCHEDULE_FAILED, INFERENCE_FAILED, NEPTUNE_LOAD_NOT_STARTED, NEPTUNE_LOAD_IN_PROGRESS,
  NEPTUNE_LOAD_COMPLETED, NEPTUNE_LOAD_CANCELLED_BY_USER, NEPTUNE_LOAD_CANCELLED_DUE_TO_ERRORS,
  NEPTUNE_LOAD_UNEXPECTED_ERROR, NEPTUNE_LOAD_FAILED, NEPTUNE_LOAD_S3_READ_ERROR,
  NEPTUNE_LOAD_S3_ACCESS_DENIED_ERROR, NEPTUNE_LOAD_COMMITTED_W_WRITE_CONFLICTS,
  NEPTUNE_LOAD_DATA_DEADLOCK, NEPTUNE_LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED,
  NEPTUNE_LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED, NEPTUNE_LOAD_IN_QUEUE,
  NEPTUNE_LOAD_FAILED_INVALID_REQUEST, SUCCESS_NOTIFICATION_SENT, ERROR_NOTIFICATION_SENT"""


def test_every_design_status_exists() -> None:
    names = {n.strip() for n in DESIGN.replace("\n", " ").split(",")}
    assert names == {s.value for s in JobStatus}
    assert all(s.value == s.name for s in JobStatus)


def test_neptune_mapping() -> None:
    assert neptune_job_status("LOAD_FAILED") is JobStatus.NEPTUNE_LOAD_FAILED
    assert neptune_job_status(NEPTUNE_TERMINAL_OK) is JobStatus.NEPTUNE_LOAD_COMPLETED
    assert {"LOAD_NOT_STARTED", "LOAD_IN_QUEUE", "LOAD_IN_PROGRESS"} == NEPTUNE_ACTIVE_LOAD_STATUSES
    with pytest.raises(ValueError, match="unknown Neptune loader status 'LOAD_EXPLODED'"):
        neptune_job_status("LOAD_EXPLODED")


def test_finished_and_failure_sets() -> None:
    assert {JobStatus.SUCCESS_NOTIFICATION_SENT, JobStatus.ERROR_NOTIFICATION_SENT} == FINISHED_STATUSES
    assert JobStatus.ERROR_NOTIFICATION_SENT.is_finished and not JobStatus.CREATED.is_finished
    assert JobStatus.NEPTUNE_LOAD_S3_READ_ERROR.is_failure and JobStatus.INFERENCE_FAILED.is_failure
    for ok in (JobStatus.NEPTUNE_LOAD_COMPLETED, JobStatus.NEPTUNE_LOAD_IN_QUEUE, JobStatus.SCHEDULED):
        assert ok not in FAILURE_STATUSES


def test_parse_job_status() -> None:
    assert parse_job_status(" created ") is JobStatus.CREATED
    with pytest.raises(ValueError, match="expected one of: PRE_CREATE"):
        parse_job_status("DONE")
