"""NeptuneLoadStatusTrigger: polls GET /loader/{loadId} in the triggerer until the load ends or times out."""

from __future__ import annotations

import asyncio
import time
import warnings
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
    Yield exactly one event, with ``status``, ``message`` and ``load_id`` as the Amazon provider's waiter
    triggers do: ``{"status": "terminal", "loader_status": ..., "payload": ...}`` when the load reaches a
    terminal status, ``{"status": "timeout", ...}`` at the deadline or after ``waiter_max_attempts`` polls,
    or ``{"status": "error", ...}`` on an answer that retrying cannot fix. Transient failures (throttling,
    5xx, network) are logged and polled through until then.

    :param waiter_delay: seconds between polls (``poll_interval`` before; still taken, with a warning).
    :param waiter_max_attempts: most polls; None: only the deadline limits the wait.
    :param neptune_endpoint: the base URL the load was started on (the sensor resolved it); polled as is. None
        (a trigger serialised before this argument existed): the connection's host.
    :param deadline: absolute epoch seconds; it survives a triggerer restart (a relative timeout would not).
    :param aws_conn_id: the AWS connection that signs (IAM auth) unless the Neptune connection names another.
    :param region_name: the signing region unless the Neptune connection names one.
    :param verify: TLS verification of the AWS calls (STS) behind the signing credentials.
    :param botocore_config: botocore ``Config`` keyword arguments for those calls.
    """

    def __init__(
        self,
        load_id: str,
        neptune_conn_id: str = "neptune_default",
        waiter_delay: float = 60.0,
        deadline: float | None = None,
        timeout: float | None = None,
        resume_not_before: float | None = None,
        neptune_endpoint: str | None = None,
        waiter_max_attempts: int | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        poll_interval: float | None = None,
    ) -> None:
        super().__init__()
        if poll_interval is not None:  # the name before the provider's; triggers serialised with it resume
            warnings.warn(
                "NeptuneLoadStatusTrigger: poll_interval is deprecated, use waiter_delay",
                DeprecationWarning,
                stacklevel=2,
            )
            waiter_delay = poll_interval
        if waiter_delay <= 0:
            raise ValueError(f"waiter_delay must be positive, got {waiter_delay}")
        if waiter_max_attempts is not None and waiter_max_attempts < 1:
            raise ValueError(f"waiter_max_attempts must be at least 1, got {waiter_max_attempts}")
        self.load_id = load_id
        self.neptune_conn_id = neptune_conn_id
        self.neptune_endpoint = neptune_endpoint
        self.waiter_delay = float(waiter_delay)
        self.waiter_max_attempts = waiter_max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
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
                "waiter_delay": self.waiter_delay,
                "waiter_max_attempts": self.waiter_max_attempts,
                "deadline": self.deadline,
                "resume_not_before": self.resume_not_before,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
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
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
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
                            "message": f"Neptune load {self.load_id} ended {loader_status}",
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
            out_of_attempts = self.waiter_max_attempts is not None and polls >= self.waiter_max_attempts
            if out_of_attempts or (remaining is not None and remaining <= 0):
                yield TriggerEvent(
                    {
                        **self._base_event("timeout", started),
                        "deadline": self.deadline,
                        "message": f"load {self.load_id} still running at deadline"
                        if not out_of_attempts
                        else f"load {self.load_id} still running after {polls} polls",
                    }
                )
                return
            await asyncio.sleep(self.waiter_delay if remaining is None else min(self.waiter_delay, remaining))
