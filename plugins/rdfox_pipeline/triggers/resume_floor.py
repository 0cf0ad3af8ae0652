"""The earliest moment a deferred task of ours may be handed back to a worker.

Why: Airflow's scheduler (3.0.x as well as 3.3) fails a deferred task whose trigger fires before the scheduler
has processed the exit of the worker that deferred it (apache/airflow#72716: "Server indicated the task
shouldn't be running anymore"); on a busy machine that takes several seconds. So the task that defers sets a
floor, and the trigger holds its event until then. Real waits (a pod reasoning, a Neptune load) last minutes
to hours and never notice; a wait that is over at once costs the floor, not a failed task and a retry.

`airflow dags test` (dag.test()) runs triggers inline in the task's own process, with no scheduler to race:
there, and only there, the floor may be set to 0 with the environment variable below (the local demo and
the tests that run `airflow dags test` do; docs/testing.md).
"""

from __future__ import annotations

import asyncio
import os
import time

RESUME_FLOOR_SECONDS = 20.0
RESUME_FLOOR_ENV = "RDFOX_PIPELINE_RESUME_FLOOR_SECONDS"


def resume_floor_seconds() -> float:
    """The floor: RESUME_FLOOR_SECONDS unless the environment sets it (0 to 3600 seconds)."""
    raw = os.environ.get(RESUME_FLOOR_ENV)
    if raw is None or not raw.strip():
        return RESUME_FLOOR_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{RESUME_FLOOR_ENV}: expected a number of seconds, got {raw!r}") from None
    if not 0 <= value <= 3600:
        raise ValueError(f"{RESUME_FLOOR_ENV}: must be between 0 and 3600 seconds, got {raw!r}")
    return value


def resume_not_before() -> float:
    """Epoch seconds before which the trigger being created must not fire (absolute: survives a restart)."""
    return time.time() + resume_floor_seconds()


async def wait_for_resume_floor(not_before: float | None) -> None:
    """Sleep (without blocking the triggerer's event loop) until ``not_before``; at once if it is None."""
    if not_before is not None and (delay := not_before - time.time()) > 0:
        await asyncio.sleep(delay)
