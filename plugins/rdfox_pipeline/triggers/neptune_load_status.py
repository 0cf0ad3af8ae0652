"""NeptuneLoadStatusTrigger: polls GET /loader/{loadId} in the triggerer until the load ends or times out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from rdfox_pipeline.domain.statuses import NEPTUNE_ACTIVE_LOAD_STATUSES
from rdfox_pipeline.triggers.resume_floor import wait_for_resume_floor

# Answers polling again will not fix even where the code is retryable: the hook's quick retries already
# asked again (404 BulkLoadIdNotFoundException: Neptune forgot the load; 403 AccessDeniedException).
_FATAL_HTTP = frozenset({403, 404})


def progress_line(load_id: str, overall: Mapping[str, Any], waited_seconds: float | None = None) -> str:
    """One progress line for the task log: the loader's status, records so far, and time elapsed."""
    from rdfox_pipeline.domain.humanize import count, duration

    line = (
        f"Neptune load {load_id}: {overall.get('status') or 'unknown'}, "
        f"{count(_number(overall.get('totalRecords')))} records so far, "
        f"{duration(_number(overall.get('totalTimeSpent')))} elapsed loading"
    )
    if waited_seconds is not None:
        line += f", {duration(max(waited_seconds, 0.0))} waited"
    return line


def _number(value: Any) -> int:
    # A progress line must never break the poll loop, whatever the payload holds.
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


class NeptuneLoadStatusTrigger(BaseTrigger):
    """
    Yield exactly one event: ``{"status": "terminal", "loader_status": ..., "payload": ...}`` when the load
    reaches a terminal status, ``{"status": "timeout", ...}`` at the deadline, or ``{"status": "error", ...}``
    on an answer that retrying cannot fix. Transient failures (5xx, 429, network) are logged and polled
    through until the deadline.

    :param neptune_endpoint: the base URL the load was started on (the sensor resolved it); polled as is. None
        (a trigger serialised before this argument existed): the connection's host.
    :param deadline: absolute epoch seconds; it survives a triggerer restart (a relative timeout would not).
    """

    def __init__(
        self,
        load_id: str,
        neptune_conn_id: str = "neptune_default",
        poll_interval: float = 60.0,
        deadline: float | None = None,
        timeout: float | None = None,
        resume_not_before: float | None = None,
        neptune_endpoint: str | None = None,
    ) -> None:
        super().__init__()
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        self.load_id = load_id
        self.neptune_conn_id = neptune_conn_id
        self.neptune_endpoint = neptune_endpoint
        self.poll_interval = float(poll_interval)
        if deadline is None and timeout is not None:
            deadline = time.time() + float(timeout)
        self.deadline = deadline
        self.resume_not_before = resume_not_before  # see triggers/resume_floor.py

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "load_id": self.load_id,
                "neptune_conn_id": self.neptune_conn_id,
                "neptune_endpoint": self.neptune_endpoint,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "resume_not_before": self.resume_not_before,
            },
        )

    def _hook(self) -> Any:
        from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook

        # Few quick in-call retries: the poll loop itself is the long-term retry.
        return NeptuneLoaderHook(
            self.neptune_conn_id,
            cluster_endpoint=self.neptune_endpoint,
            endpoint_origin=f"the endpoint Neptune load {self.load_id} was started on",
            max_attempts=2,
            backoff_base=0.5,
            backoff_max=5,
        )

    def _base_event(self, status: str, started: float) -> dict[str, Any]:
        return {
            "status": status,
            "load_id": self.load_id,
            "neptune_endpoint": self.neptune_endpoint,
            "elapsed_seconds": round(time.monotonic() - started, 3),
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from rdfox_pipeline.hooks.neptune_loader import NeptuneEndpointError, NeptuneLoaderError

        hook = self._hook()
        started = time.monotonic()
        polls = 0
        while True:
            polls += 1
            try:
                payload = await hook.aget_load_status(self.load_id, details=True)
                overall = payload.get("overallStatus") or {}
                loader_status = str(overall.get("status", ""))
                if loader_status and loader_status not in NEPTUNE_ACTIVE_LOAD_STATUSES:
                    await wait_for_resume_floor(self.resume_not_before)
                    yield TriggerEvent(
                        {
                            **self._base_event("terminal", started),
                            "loader_status": loader_status,
                            "payload": payload,
                        }
                    )
                    return
                self.log.info(
                    "%s (poll %d)", progress_line(self.load_id, overall, time.monotonic() - started), polls
                )
            except NeptuneEndpointError as exc:  # misconfigured: polling again cannot fix it
                await wait_for_resume_floor(self.resume_not_before)
                yield TriggerEvent({**self._base_event("error", started), "message": str(exc)})
                return
            except NeptuneLoaderError as exc:
                if exc.status_code in _FATAL_HTTP or not exc.retryable:  # the code decides (neptune_errors)
                    await wait_for_resume_floor(self.resume_not_before)
                    yield TriggerEvent({**self._base_event("error", started), "message": str(exc)})
                    return
                self.log.warning("Neptune load %s: transient error while polling: %s", self.load_id, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network trouble, bad JSON...: keep polling until the deadline
                self.log.warning(
                    "Neptune load %s: error while polling: %s: %s", self.load_id, type(exc).__name__, exc
                )
            remaining = None if self.deadline is None else self.deadline - time.time()
            if remaining is not None and remaining <= 0:
                yield TriggerEvent(
                    {
                        **self._base_event("timeout", started),
                        "deadline": self.deadline,
                        "message": f"load {self.load_id} still running at deadline",
                    }
                )
                return
            await asyncio.sleep(
                self.poll_interval if remaining is None else min(self.poll_interval, remaining)
            )
