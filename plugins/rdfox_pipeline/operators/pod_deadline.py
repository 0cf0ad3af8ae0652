"""The task's ``execution_timeout`` as an absolute deadline for a pod trigger (issue 13, scenario 4).

A deferred task is not timed by Airflow's ``execution_timeout``: the cncf-kubernetes provider hands its
trigger ``trigger_kwargs["_execution_deadline"]`` (the task's start + execution_timeout) and pads the
deferral's own timeout past it, but only on the plain route: the Amazon provider's EKS route builds its
trigger without either. These are the provider's rules, for the EKS route to apply too. Anchored on the
task instance's start date, which Airflow keeps across resumes, so a re-deferral keeps the same deadline.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

DEADLINE_KWARG = "_execution_deadline"  # the key the provider's KubernetesPodTrigger reads


def execution_deadline(start_date: datetime | None, execution_timeout: timedelta | None) -> int | None:
    """Epoch seconds at which the task's execution_timeout ends; None without a timeout or start date."""
    if execution_timeout is None or start_date is None:
        return None
    return int(start_date.timestamp() + execution_timeout.total_seconds())


def defer_timeout(deadline: int, poll_interval: float, now: float | None = None) -> timedelta:
    """The deferral's timeout: past the deadline, so the trigger's own "timeout" event comes first."""
    remaining = deadline - (time.time() if now is None else now)
    return timedelta(seconds=max(remaining, 0) + max(60, int(poll_interval * 2)))
