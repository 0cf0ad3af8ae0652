"""Every way a job task can end in failure leaves a failure status and a reason on the job, exactly once.

Two writers, one conditional write (only while the job is in flight: ``domain/task_failure.py``):

* ``record_task_failure``, the job tasks' ``on_failure_callback``: runs in the task's process when the task
  fails for good (not before a retry), with the exception: a deferral timeout, a trigger failure, an
  ``execution_timeout``, an error no retry fixes.
* ``record_failed_task``, called by ``notify_failure`` (trigger rule one_failed, so it runs in every case):
  the backstop for failures no callback sees (a person marking the task failed, the scheduler failing a task
  whose worker was lost). It names the run's failed task and the job's last status.

Whichever writes first wins; the other finds a failure status and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rdfox_pipeline.domain.task_failure import (
    IN_FLIGHT_STATUSES,
    describe_exception,
    failure_reason,
    failure_status_for,
    first_failed_task,
)

log = logging.getLogger(__name__)
REGISTRATION_TASK = "register_job"


def write_failure(metadata: Any, job_id: str, task_id: str | None, cause: str | None) -> bool:
    """Move the job to its failure status with a reason, unless it already has one; True if written."""
    from rdfox_pipeline.hooks.job_metadata import JobAlreadyFinished, UnexpectedJobStatus
    from rdfox_pipeline.notifications.redact import redact

    record = metadata.get_job(job_id)
    current = (record or {}).get("job_status")
    status = failure_status_for(current)
    if record is None or status is None:
        return False
    reason = failure_reason(task_id, current, redact(cause) if cause else None)
    try:
        # Conditional: another writer (the task itself, the callback, a notify_failure retry) may have
        # recorded the failure meanwhile; its reason stands.
        metadata.record_status(job_id, status, allowed_from=sorted(IN_FLIGHT_STATUSES), error_reason=reason)
    except (UnexpectedJobStatus, JobAlreadyFinished):
        return False
    log.info("Job %s: recorded %s: %s", job_id, status.value, reason)
    return True


def job_id_of_run(ti: Any) -> str | None:
    """The run's job id: register_job's XCom, or the failed_job_id it pushed for an invalid jobspec."""
    registration = ti.xcom_pull(task_ids=REGISTRATION_TASK)
    job_id = registration.get("job_id") if isinstance(registration, Mapping) else None
    job_id = job_id or ti.xcom_pull(task_ids=REGISTRATION_TASK, key="failed_job_id")
    return str(job_id) if job_id else None


def _metadata(task: Any) -> Any:
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    return JobMetadataHook(aws_conn_id=getattr(task, "aws_conn_id", "aws_default"))


def record_task_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of the job tasks: record the failure with the task's exception.

    Never raises: a callback's error would only hide the task's own (notify_failure is the backstop).
    """
    ti = context.get("ti")
    try:
        job_id = job_id_of_run(ti) if ti is not None else None
        if not job_id:
            return  # no job registered: notify_failure tells people about the run instead
        cause = describe_exception(context.get("exception"))
        write_failure(_metadata(context.get("task")), job_id, getattr(ti, "task_id", None), cause)
    except Exception:
        log.exception("Could not record the failure of task %s", getattr(ti, "task_id", "?"))


def failed_task_of_run(ti: Any) -> str | None:
    """The run's first failed job task, from the task states the Execution API gives the running task."""
    if ti is None:
        return None
    try:
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id])
    except Exception as exc:  # an Airflow that cannot say: the reason then names no task
        log.warning("Cannot read the task states of run %s: %s", getattr(ti, "run_id", "?"), exc)
        return None
    return first_failed_task((states or {}).get(ti.run_id) or {})


def record_failed_task(metadata: Any, job_id: str, ti: Any) -> bool:
    """notify_failure's backstop: a failure nobody recorded gets the failed task and the last status."""
    if failure_status_for((metadata.get_job(job_id) or {}).get("job_status")) is None:
        return False  # recorded already (or loaded, or finished): the usual case, nothing to ask Airflow
    return write_failure(metadata, job_id, failed_task_of_run(ti), cause=None)


def add_failure_recording(task: Any) -> None:
    """Give a job task ``record_task_failure`` as an ``on_failure_callback``, after any it has."""
    existing = task.on_failure_callback
    callbacks = [existing] if callable(existing) else list(existing or ())
    if record_task_failure not in callbacks:
        task.on_failure_callback = [*callbacks, record_task_failure]
