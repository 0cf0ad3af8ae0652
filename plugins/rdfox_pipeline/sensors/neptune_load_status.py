"""NeptuneLoadStatusSensor: waits for a Neptune bulk load; deferrable by default, also poke/reschedule."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from rdfox_pipeline.compat import AirflowException, AirflowFailException, AirflowSensorTimeout
from rdfox_pipeline.domain.legacy_stats import time_to_load_neptune
from rdfox_pipeline.domain.neptune_stats import NeptuneStats, NeptuneStatusError, parse_neptune_status
from rdfox_pipeline.domain.settings import SETTINGS
from rdfox_pipeline.domain.statuses import (
    NEPTUNE_ACTIVE_LOAD_STATUSES,
    NEPTUNE_TERMINAL_OK,
    JobStatus,
    neptune_job_status,
)
from rdfox_pipeline.links import NeptuneLoadStatusLink

MAX_ERRORS_IN_MESSAGE = 10
# Stand-ins until the job's own settings are read at run time (a DAG file does no I/O): the defaults.
_DEFAULT_POLL_SECONDS = float(SETTINGS["NEPTUNE_LOAD_POLL_SECONDS"].default)
_DEFAULT_TIMEOUT_SECONDS = float(SETTINGS["NEPTUNE_LOAD_TIMEOUT_HOURS"].default) * 3600


def failure_message(
    load_id: str, loader_status: str, payload: Mapping[str, Any], errors: Sequence[Mapping]
) -> str:
    """One readable message with the loader's own errors (the first few), for the task log and job record."""
    overall = payload.get("overallStatus") or {}
    lines = [
        f"Neptune load {load_id} ended {loader_status}: {overall.get('totalRecords', 0)} records, "
        f"{overall.get('parsingErrors', 0)} parsing / {overall.get('datatypeMismatchErrors', 0)} datatype / "
        f"{overall.get('insertErrors', 0)} insert errors"
    ]
    lines += [
        f"  {e.get('errorCode')}: {e.get('errorMessage')} ({e.get('fileName')} record {e.get('recordNum')})"
        for e in errors[:MAX_ERRORS_IN_MESSAGE]
    ]
    if len(errors) > MAX_ERRORS_IN_MESSAGE:
        lines.append(f"  ... and {len(errors) - MAX_ERRORS_IN_MESSAGE} more errors")
    for feed in (payload.get("failedFeeds") or [])[:MAX_ERRORS_IN_MESSAGE]:
        lines.append(f"  failed feed {feed.get('fullUri')}: {feed.get('status')}")
    return "\n".join(lines)


class NeptuneLoadStatusSensor(BaseSensorOperator):
    """
    Wait for Neptune load ``load_id`` to end. LOAD_COMPLETED returns ``NeptuneStats.to_dict()`` and records
    NEPTUNE_LOAD_COMPLETED (with the stats) on the job; any other terminal status records
    ``NEPTUNE_<status>`` with the loader's errors as ``error_reason`` and fails the task.

    :param load_id: the loader's id (templated; usually the NeptuneBulkLoadOperator's XCom).
    :param job_id: the pipeline job to record on (templated); None records nothing.
    :param neptune_endpoint: the base URL the load was started on (templated; the NeptuneBulkLoadOperator's
        XCom ``neptune_endpoint``). Polled as is, the trigger included; a connection host naming another
        endpoint fails. None: the connection's host, else the job's NEPTUNE_CLUSTER_ENDPOINT setting.
    :param aws_conn_id: the AWS connection for the job table, settings and cluster description, and the one
        that signs Neptune requests unless the Neptune connection's extra names another.
    :param region_name: AWS region of those calls (and the signing region when the Neptune connection names
        none). None: the connection's.
    :param verify: TLS verification of the AWS calls (as the Amazon provider's sensors take it).
    :param botocore_config: botocore ``Config`` keyword arguments for the AWS calls.
    :param deferrable: wait in the triggerer (default) instead of holding a worker slot.
    :param poke_interval: seconds between polls; None (default): the job's NEPTUNE_LOAD_POLL_SECONDS.
    :param timeout: seconds to wait for the load; None (default): the job's NEPTUNE_LOAD_TIMEOUT_HOURS.
        Both settings are the job's (its jobspec's overrides > SSM > environment > default), read when the
        task runs, before it defers or pokes; the trigger gets the interval and an absolute deadline.
    """

    template_fields: Sequence[str] = tuple(
        sorted(
            {
                "aws_conn_id",
                "region_name",
                "verify",
                "load_id",
                "job_id",
                "neptune_conn_id",
                "neptune_endpoint",
            }
        )
    )
    ui_color = "#c9e3f7"
    operator_extra_links = (NeptuneLoadStatusLink(),)

    def __init__(
        self,
        *,
        load_id: str,
        job_id: str | None = None,
        neptune_conn_id: str = "neptune_default",
        neptune_endpoint: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        deferrable: bool = True,
        poke_interval: float | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            poke_interval=_DEFAULT_POLL_SECONDS if poke_interval is None else poke_interval,
            timeout=_DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout,
            **kwargs,
        )
        # Arguments given win; the others come from the job's settings at run time.
        self._wait_from_settings = (poke_interval is None, timeout is None)
        self.load_id = load_id
        self.job_id = job_id
        self.neptune_conn_id = neptune_conn_id
        self.neptune_endpoint = neptune_endpoint
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.deferrable = deferrable
        self._started: float | None = None
        self._endpoint: str | None = None
        self._settings: Any = None

    # -- collaborators ----------------------------------------------------------------------------------
    def _endpoint_url(self) -> str:
        """The base URL to poll: the one the load was started on, else resolved as the operator does."""
        if self._endpoint is None:
            pinned = (self.neptune_endpoint or "").strip()
            # A template without native rendering renders a missing XCom as the text "None".
            if pinned and pinned != "None":
                self._endpoint = pinned
            else:
                self._endpoint = self._resolve_endpoint()
        return self._endpoint

    def _resolve_endpoint(self) -> str:
        from rdfox_pipeline.hooks.neptune_loader import NeptuneEndpointError, NeptuneLoaderHook

        try:  # the connection's host needs no settings (nor AWS) at all
            return NeptuneLoaderHook(self.neptune_conn_id, **self._aws_hook_args()).endpoint.base_url
        except NeptuneEndpointError:
            pass  # no host (or no connection): the job's NEPTUNE_CLUSTER_ENDPOINT setting names it
        setting = self._job_settings().neptune_cluster_endpoint
        hook = NeptuneLoaderHook(self.neptune_conn_id, cluster_endpoint=setting, **self._aws_hook_args())
        return hook.endpoint.base_url

    def _aws_hook_args(self) -> dict[str, Any]:
        return {
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
            "verify": self.verify,
            "config": self.botocore_config,
        }

    def _job_settings(self) -> Any:
        """The job's settings: its recorded jobspec's overrides > SSM > environment > default (read once)."""
        if self._settings is None:
            from rdfox_pipeline.aws.settings_loader import load_settings

            record = self._metadata().get_job(self.job_id) if self.job_id else None
            self._settings = load_settings(recorded_jobspec(record), aws_conn_id=self.aws_conn_id)
        return self._settings

    def _apply_wait_settings(self) -> None:
        """Poll interval and timeout from the job's settings, where no argument gave them."""
        poll_from_settings, timeout_from_settings = self._wait_from_settings
        if not (poll_from_settings or timeout_from_settings):
            return
        settings = self._job_settings()
        if poll_from_settings:
            self.poke_interval = float(settings.neptune_load_poll_seconds)
        if timeout_from_settings:
            self.timeout = float(settings.neptune_load_timeout_hours) * 3600

    def _neptune(self) -> Any:
        from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook

        return NeptuneLoaderHook(
            self.neptune_conn_id,
            cluster_endpoint=self._endpoint_url(),
            endpoint_origin=f"the endpoint Neptune load {self.load_id} was started on",
            **self._aws_hook_args(),
        )

    def _metadata(self) -> Any:
        from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

        return JobMetadataHook(**self._aws_hook_args())

    def _record(self, status: JobStatus, **fields: Any) -> None:
        if not self.job_id:
            return
        self._metadata().record_status(self.job_id, status, **fields)

    def _legacy_fields(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The old job table's fields about the load (its duration, the writer instance); never fail here."""
        if not self.job_id:
            return {}
        fields: dict[str, Any] = {"neptune_writer_instance": self._writer_instance()}
        try:
            fields["time_to_load_neptune"] = time_to_load_neptune(payload)
        except ValueError as exc:
            self.log.warning("Neptune load %s: no time_to_load_neptune: %s", self.load_id, exc)
        return fields

    def _writer_instance(self) -> str | None:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        from rdfox_pipeline.aws.neptune_cluster import find_writer_instance

        try:
            endpoint = self._neptune().endpoint.base_url
            settings = self._job_settings()
        except Exception as exc:  # informative field only: the load's outcome must still be recorded
            self.log.warning("Neptune load %s: no neptune_writer_instance: %s", self.load_id, exc)
            return None

        def client() -> Any:
            hook = AwsBaseHook(
                client_type="neptune",
                **{**self._aws_hook_args(), "region_name": self.region_name or settings.aws_default_region},
            )
            return hook.conn

        return find_writer_instance(client, endpoint, cluster_id=settings.neptune_cluster_id, log=self.log)

    # -- deferrable path --------------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        # Both paths: the poke loop (BaseSensorOperator.execute) reads poke_interval and timeout too.
        self._apply_wait_settings()
        if not self.deferrable:
            return super().execute(context)
        from rdfox_pipeline.triggers.neptune_load_status import NeptuneLoadStatusTrigger
        from rdfox_pipeline.triggers.resume_floor import resume_not_before

        endpoint = self._neptune().endpoint.base_url  # checked against the connection before deferring
        self.log.info(
            "Deferring: waiting for Neptune load %s at %s (poll every %ss, give up after %.1f h)",
            self.load_id,
            endpoint,
            self.poke_interval,
            self.timeout / 3600,
        )
        self.defer(
            trigger=NeptuneLoadStatusTrigger(
                load_id=self.load_id,
                neptune_conn_id=self.neptune_conn_id,
                neptune_endpoint=endpoint,
                waiter_delay=self.poke_interval,
                deadline=time.time() + self.timeout,
                resume_not_before=resume_not_before(),
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + self.poke_interval),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.providers.amazon.aws.utils import validate_execute_complete_event

        event = validate_execute_complete_event(event)
        if event.get("neptune_endpoint"):
            self._endpoint = str(event["neptune_endpoint"])  # fetch the errors where the trigger polled
        kind = event.get("status")
        if kind == "timeout":
            # Resumed in a new process: the deadline the trigger kept is the limit that was applied.
            deadline = event.get("deadline")
            limit = f"by its deadline {_utc(float(deadline))}" if deadline else f"within {self.timeout:.0f}s"
            raise AirflowSensorTimeout(
                f"Neptune load {self.load_id} did not finish {limit} "
                f"(still running; cancel it with DELETE /loader/{self.load_id} if it must stop)"
            )
        if kind == "error":
            # The trigger sends "error" only for answers polling again cannot change (404 for a load Neptune
            # forgot, 400, 403, a bad endpoint): no retry. The job task's failure callback records it.
            raise AirflowFailException(
                f"Neptune load {self.load_id}: cannot read its status: {event.get('message')}"
            )
        if kind != "terminal":
            raise AirflowException(f"Neptune load {self.load_id}: unexpected trigger event {kind!r}")
        return self._finish(str(event["loader_status"]), event.get("payload") or {})

    # -- poke / reschedule path -------------------------------------------------------------------------
    def poke(self, context: Any) -> PokeReturnValue | bool:
        from rdfox_pipeline.triggers.neptune_load_status import progress_line

        if self._started is None:
            self._started = time.monotonic()
        from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderError

        try:
            payload = self._neptune().get_load_status(self.load_id, details=True)
        except NeptuneLoaderError as exc:
            # As the trigger does: throttling and other retryable answers are waited through until the
            # timeout; a load Neptune forgot (404, after the hook asked again) fails for good.
            if exc.status_code == 404:
                raise AirflowFailException(
                    f"Neptune load {self.load_id}: cannot read its status: {exc}"
                ) from exc
            if not exc.retryable or exc.status_code == 403:
                raise
            self.log.warning("Neptune load %s: transient error while polling: %s", self.load_id, exc)
            return False
        overall = payload.get("overallStatus") or {}
        status = str(overall.get("status") or "")
        if status in NEPTUNE_ACTIVE_LOAD_STATUSES or not status:
            if not status:  # an answer without a status tells nothing: poll again, as the trigger does
                self.log.warning("Neptune load %s: status answer without a status: %s", self.load_id, payload)
            self.log.info("%s", progress_line(self.load_id, overall, time.monotonic() - self._started))
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(status, payload))

    # -- outcome ----------------------------------------------------------------------------------------
    def _finish(self, loader_status: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        raw = json.dumps(payload, sort_keys=True)
        if loader_status == NEPTUNE_TERMINAL_OK:
            result = self._completed_stats(payload)
            self.log.info(
                "Neptune load %s completed: %s records (%s duplicates) in %ss",
                self.load_id,
                result["total_records"],
                result["total_duplicates"],
                result["total_time_spent"],
            )
            self._record(
                JobStatus.NEPTUNE_LOAD_COMPLETED,
                neptune_stats=result,
                neptune_stats_raw=raw,
                **self._legacy_fields(payload),
            )
            return result
        try:
            errors = self._neptune().get_load_errors(self.load_id)
        except Exception as exc:  # the failure must still be reported, with what we have
            self.log.warning("could not fetch the errors of Neptune load %s: %s", self.load_id, exc)
            errors = list((payload.get("errors") or {}).get("errorLogs") or [])
        message = failure_message(self.load_id, loader_status, payload, errors)
        fields: dict[str, Any] = {"neptune_stats_raw": raw, "error_reason": message}
        fields.update(self._legacy_fields(payload))
        try:
            fields["neptune_stats"] = parse_neptune_status({**payload, "loadId": self.load_id}).to_dict()
        except NeptuneStatusError as exc:  # a malformed answer still fails the task with what it said
            self.log.warning("Neptune load %s: unexpected status payload: %s", self.load_id, exc)
        self._record(failure_job_status(loader_status), **fields)
        # The load is over and will not change: fail without the retries meant for reading its status.
        raise AirflowFailException(message)

    def _completed_stats(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The stats of a completed load; a field of an unexpected type is left out, never a failed task."""
        try:
            return parse_neptune_status({**payload, "loadId": self.load_id}).to_dict()
        except NeptuneStatusError as exc:
            self.log.warning(
                "Neptune load %s completed; its status has an unexpected field: %s", self.load_id, exc
            )
            return NeptuneStats(status=NEPTUNE_TERMINAL_OK, load_id=self.load_id).to_dict()


def _utc(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def recorded_jobspec(record: Mapping[str, Any] | None) -> Any:
    """The job's recorded jobspec (its per-job setting overrides), or None."""
    raw = (record or {}).get("jobspec")
    if raw in (None, "", {}):
        return None
    from rdfox_pipeline.domain.jobspec import JobSpecError, parse_jobspec

    try:
        return parse_jobspec(raw)
    except JobSpecError as exc:
        raise AirflowException(
            f"job {(record or {}).get('job_id')}: its recorded jobspec is invalid: {exc}"
        ) from None


def failure_job_status(loader_status: str) -> JobStatus:
    """``NEPTUNE_<status>``; a status this code does not know yet (Neptune added one) is a failed load."""
    try:
        return neptune_job_status(loader_status)
    except ValueError:
        return JobStatus.NEPTUNE_LOAD_FAILED
