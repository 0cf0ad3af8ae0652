"""The earliest moment a deferred task of ours may be handed back to a worker.

Why: Airflow's scheduler (3.0.x as well as 3.3) fails a deferred task whose trigger fires before the scheduler
has processed the exit of the worker that deferred it (apache/airflow#72716: "Server indicated the task
shouldn't be running anymore"); on a busy machine that takes several seconds. So the task that defers sets a
floor, and the trigger holds its event until then. Real waits (a pod reasoning, a Neptune load) last minutes
to hours and never notice; a wait that is over at once costs the floor, not a failed task and a retry.
"""

from __future__ import annotations

import asyncio
import time

RESUME_FLOOR_SECONDS = 20.0


def resume_not_before() -> float:
    """Epoch seconds before which the trigger being created must not fire (absolute: survives a restart)."""
    return time.time() + RESUME_FLOOR_SECONDS


async def wait_for_resume_floor(not_before: float | None) -> None:
    """Sleep (without blocking the triggerer's event loop) until ``not_before``; at once if it is None."""
    if not_before is not None and (delay := not_before - time.time()) > 0:
        await asyncio.sleep(delay)
