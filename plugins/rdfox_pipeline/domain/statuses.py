"""Job statuses, kept from the system this replaces (DynamoDB attribute `job_status`)."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PRE_CREATE = "PRE_CREATE"
    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    INFERENCE_COMPLETE = "INFERENCE_COMPLETE"
    SCHEDULE_FAILED = "SCHEDULE_FAILED"
    INFERENCE_FAILED = "INFERENCE_FAILED"
    NEPTUNE_LOAD_NOT_STARTED = "NEPTUNE_LOAD_NOT_STARTED"
    NEPTUNE_LOAD_IN_PROGRESS = "NEPTUNE_LOAD_IN_PROGRESS"
    NEPTUNE_LOAD_COMPLETED = "NEPTUNE_LOAD_COMPLETED"
    NEPTUNE_LOAD_CANCELLED_BY_USER = "NEPTUNE_LOAD_CANCELLED_BY_USER"
    NEPTUNE_LOAD_CANCELLED_DUE_TO_ERRORS = "NEPTUNE_LOAD_CANCELLED_DUE_TO_ERRORS"
    NEPTUNE_LOAD_UNEXPECTED_ERROR = "NEPTUNE_LOAD_UNEXPECTED_ERROR"
    NEPTUNE_LOAD_FAILED = "NEPTUNE_LOAD_FAILED"
    NEPTUNE_LOAD_S3_READ_ERROR = "NEPTUNE_LOAD_S3_READ_ERROR"
    NEPTUNE_LOAD_S3_ACCESS_DENIED_ERROR = "NEPTUNE_LOAD_S3_ACCESS_DENIED_ERROR"
    NEPTUNE_LOAD_COMMITTED_W_WRITE_CONFLICTS = "NEPTUNE_LOAD_COMMITTED_W_WRITE_CONFLICTS"
    NEPTUNE_LOAD_DATA_DEADLOCK = "NEPTUNE_LOAD_DATA_DEADLOCK"
    NEPTUNE_LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED = (
        "NEPTUNE_LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED"
    )
    NEPTUNE_LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED = (
        "NEPTUNE_LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED"
    )
    NEPTUNE_LOAD_IN_QUEUE = "NEPTUNE_LOAD_IN_QUEUE"
    NEPTUNE_LOAD_FAILED_INVALID_REQUEST = "NEPTUNE_LOAD_FAILED_INVALID_REQUEST"
    SUCCESS_NOTIFICATION_SENT = "SUCCESS_NOTIFICATION_SENT"
    ERROR_NOTIFICATION_SENT = "ERROR_NOTIFICATION_SENT"

    @property
    def is_finished(self) -> bool:
        return self in FINISHED_STATUSES

    @property
    def is_failure(self) -> bool:
        return self in FAILURE_STATUSES


# A job in one of these has been told to people; nothing may move it back.
FINISHED_STATUSES = frozenset({JobStatus.SUCCESS_NOTIFICATION_SENT, JobStatus.ERROR_NOTIFICATION_SENT})

# Neptune's own loader status codes (GET /loader/{id} -> overallStatus.status).
NEPTUNE_TERMINAL_OK = "LOAD_COMPLETED"
NEPTUNE_ACTIVE_LOAD_STATUSES = frozenset({"LOAD_NOT_STARTED", "LOAD_IN_QUEUE", "LOAD_IN_PROGRESS"})
NEPTUNE_LOADER_STATUSES = frozenset(
    s.value.removeprefix("NEPTUNE_") for s in JobStatus if s.value.startswith("NEPTUNE_")
)
NEPTUNE_FAILURE_STATUSES = NEPTUNE_LOADER_STATUSES - NEPTUNE_ACTIVE_LOAD_STATUSES - {NEPTUNE_TERMINAL_OK}

FAILURE_STATUSES = frozenset(
    {JobStatus.SCHEDULE_FAILED, JobStatus.INFERENCE_FAILED}
    | {JobStatus("NEPTUNE_" + s) for s in NEPTUNE_FAILURE_STATUSES}
)


def neptune_job_status(loader_status: str) -> JobStatus:
    """Map a Neptune loader status code (e.g. ``LOAD_FAILED``) to the job status ``NEPTUNE_LOAD_FAILED``."""
    if loader_status not in NEPTUNE_LOADER_STATUSES:
        raise ValueError(f"unknown Neptune loader status {loader_status!r}")
    return JobStatus("NEPTUNE_" + loader_status)


def parse_job_status(text: str) -> JobStatus:
    """Strictly parse a status name, with an error that lists the valid ones."""
    try:
        return JobStatus(text.strip().upper())
    except ValueError:
        raise ValueError(
            f"unknown job status {text!r}; expected one of: {', '.join(s.value for s in JobStatus)}"
        ) from None
