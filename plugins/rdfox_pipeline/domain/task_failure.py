"""What a failed task leaves on its job: a failure status and an ``error_reason`` that names the cause.

Pure: the Airflow side (``operators/failure_record.py``) reads the task's exception, the failed task of the
run and the job record, and writes what these functions decide, only while the job is still in flight.
"""

from __future__ import annotations

from collections.abc import Mapping

from rdfox_pipeline.domain.statuses import JobStatus

# The job tasks in pipeline order: the first failed one is the cause (the later ones are upstream_failed).
JOB_TASKS = (
    "wait_for_jobspec",
    "register_job",
    "reason",
    "parse_rdfox_log",
    "start_neptune_load",
    "wait_for_neptune_load",
)

# Statuses of a job that a task is still working on. A failed task moves such a job to a failure status;
# a job already failed, loaded (NEPTUNE_LOAD_COMPLETED: only its notification is left) or finished is left.
IN_FLIGHT_STATUSES = frozenset(
    {
        JobStatus.PRE_CREATE,
        JobStatus.CREATED,
        JobStatus.SCHEDULED,
        JobStatus.INFERENCE_COMPLETE,
        JobStatus.NEPTUNE_LOAD_NOT_STARTED,
        JobStatus.NEPTUNE_LOAD_IN_QUEUE,
        JobStatus.NEPTUNE_LOAD_IN_PROGRESS,
    }
)

# The stage a job was in tells which failure it had: no pod yet, the reasoning, or the load.
_FAILURE_BY_STATUS = {
    JobStatus.PRE_CREATE: JobStatus.SCHEDULE_FAILED,
    JobStatus.CREATED: JobStatus.SCHEDULE_FAILED,
    JobStatus.SCHEDULED: JobStatus.INFERENCE_FAILED,
    JobStatus.INFERENCE_COMPLETE: JobStatus.NEPTUNE_LOAD_FAILED,
    JobStatus.NEPTUNE_LOAD_NOT_STARTED: JobStatus.NEPTUNE_LOAD_FAILED,
    JobStatus.NEPTUNE_LOAD_IN_QUEUE: JobStatus.NEPTUNE_LOAD_FAILED,
    JobStatus.NEPTUNE_LOAD_IN_PROGRESS: JobStatus.NEPTUNE_LOAD_FAILED,
}
MAX_REASON_CHARS = 1000
# Airflow's own terse messages for a deferred task failed from outside (its resume with ``__fail__``).
_AIRFLOW_MESSAGES = {
    "Trigger timeout": "Trigger timeout (the deferred wait reached its timeout)",
    "Trigger failure": "Trigger failure (the trigger crashed; the task log has its traceback)",
}
NO_CAUSE = (
    "no error reached the job record: the task was marked failed, timed out, or lost its worker; see its log"
)


def failure_status_for(current: str | None) -> JobStatus | None:
    """The failure status for a job last seen in ``current``; None when the job is not in flight."""
    try:
        status = JobStatus(str(current))
    except ValueError:
        return None
    return _FAILURE_BY_STATUS.get(status) if status in IN_FLIGHT_STATUSES else None


def failure_reason(task_id: str | None, current: str | None, cause: str | None) -> str:
    """One line: which task failed, in which status, and why (the exception) or that nobody said why."""
    task = task_id or "a task of the run"
    text = f"{task} failed while {current or 'unknown'}: {' '.join((cause or NO_CAUSE).split())}"
    return text[:MAX_REASON_CHARS]


def first_failed_task(states: Mapping[str, str | None]) -> str | None:
    """The earliest job task whose state is ``failed`` (``states``: task id -> Airflow state)."""
    return next((task for task in JOB_TASKS if states.get(task) == "failed"), None)


def describe_exception(exc: BaseException | str | None) -> str | None:
    """``Type: message`` of a task's exception on one line (what the task log ends with), or None."""
    if exc is None:
        return None
    if isinstance(exc, str):
        return " ".join(exc.split()) or None
    text = " ".join(str(exc).split())
    text = _AIRFLOW_MESSAGES.get(text, text)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
