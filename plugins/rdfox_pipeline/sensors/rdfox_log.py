"""Wait for the job's rdfox.log in S3 and turn it into the job's inference statistics.

The log is at ``s3://<output>/<dataset>/<job_id>/rdfox.log`` (``register_job``'s ``rdfox_log_uri``). The wait
is the Amazon provider's ``S3KeySensor`` (a poke, then its ``S3KeyTrigger`` with the connection, region,
``verify`` and botocore config); the parsing is ``parse_rdfox_log``. A log that reads well
gives INFERENCE_COMPLETE with ``rdfox_stats``; a truncated or failed one gives INFERENCE_FAILED with the
parser's reason, and the task fails without retrying (the log will not change).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

from rdfox_pipeline.links import JobOutputsLink, RdfoxLogLink

if TYPE_CHECKING:
    from airflow.sdk import Context

# rdfox.log of a 500 M fact run is a few KB; anything near this is not a log we should hold in memory.
MAX_LOG_BYTES = 64 * 1024 * 1024


def stats_to_dict(stats: Any) -> dict[str, Any]:
    """InferenceStats as JSON-ready data (it is a dataclass or a pydantic model)."""
    for name in ("to_dict", "to_json_dict", "model_dump"):
        method = getattr(stats, name, None)
        if callable(method):
            return dict(method(mode="json") if name == "model_dump" else method())
    if dataclasses.is_dataclass(stats):
        return dataclasses.asdict(stats)
    raise TypeError(f"cannot serialise {type(stats).__name__}")


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[len("s3://") :]:
        raise ValueError(f"rdfox_log_uri: {uri!r} must look like s3://<bucket>/<key>")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


class RdfoxLogSensor(S3KeySensor):
    """Deferrable wait for rdfox.log, then parse it into the job record; returns the stats.

    The key comes from the registration at run time; the wait itself is ``S3KeySensor``'s (poke, then defer
    to ``S3KeyTrigger``, or the poke loop when not deferrable).

    :param registration: ``register_job``'s XCom (templated; pass ``register_job.output``).
    :param aws_conn_id: AWS connection for S3 and the job table (``region_name``, ``verify`` and
        ``botocore_config`` as ``S3KeySensor`` takes them).
    """

    template_fields: Sequence[str] = tuple(sorted({*S3KeySensor.template_fields, "registration"}))
    ui_color = "#fff3d6"
    operator_extra_links = (RdfoxLogLink(), JobOutputsLink())

    def __init__(
        self,
        *,
        registration: Any,
        aws_conn_id: str | None = "aws_default",
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 15)
        # publish has finished when the pod task succeeds, so the log is normally there at once.
        kwargs.setdefault("timeout", 3600)
        super().__init__(bucket_key="", aws_conn_id=aws_conn_id, deferrable=deferrable, **kwargs)
        self.registration = registration

    def _location(self) -> tuple[str, str]:
        if not isinstance(self.registration, Mapping) or "rdfox_log_uri" not in self.registration:
            raise ValueError("registration: expected register_job's XCom with job_id and rdfox_log_uri")
        return split_s3_uri(str(self.registration["rdfox_log_uri"]))

    def execute(self, context: Context) -> Any:
        self.bucket_name, key = self._location()
        self.bucket_key = [key]
        self.log.info("Waiting for s3://%s/%s", self.bucket_name, key)
        super().execute(context)  # returns once the key exists, or defers
        return self._parse()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        from airflow.providers.amazon.aws.utils import validate_execute_complete_event

        event = validate_execute_complete_event(event)
        if event.get("status") == "error":
            from rdfox_pipeline.compat import AirflowException

            # Not recorded here: an S3 error is worth a retry. A final failure is recorded by the job
            # tasks' failure callback (operators/failure_record.py), with this message.
            raise AirflowException(f"waiting for rdfox.log failed: {event.get('message')}")
        super().execute_complete(context, event)
        return self._parse()

    def _record(self, status: str, **fields: Any) -> None:
        from rdfox_pipeline.aws.settings_loader import load_settings
        from rdfox_pipeline.domain.jobspec import parse_jobspec
        from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

        settings = load_settings(
            parse_jobspec(self.registration["jobspec"]).setting_overrides(), aws_conn_id=self.aws_conn_id
        )
        hook = JobMetadataHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
            table_name=settings.job_table_name,
            delimiter=settings.job_id_delimeter,
        )
        hook.record_status(str(self.registration["job_id"]), status, **fields)

    def _parse(self) -> dict[str, Any]:
        from rdfox_pipeline.aws.s3_bounded import ObjectTooLarge, read_at_most
        from rdfox_pipeline.compat import AirflowFailException
        from rdfox_pipeline.domain.rdfox_log import RdfoxLogError, parse_rdfox_log

        bucket, key = self._location()
        uri = f"s3://{bucket}/{key}"
        try:
            raw = read_at_most(self.hook.get_conn(), bucket, key, MAX_LOG_BYTES)
        except ObjectTooLarge as exc:
            self._record("INFERENCE_FAILED", error_reason=str(exc), rdfox_log_uri=uri)
            raise AirflowFailException(str(exc)) from None
        text = raw.decode("utf-8", errors="replace")
        try:
            stats = parse_rdfox_log(text)
        except RdfoxLogError as exc:
            reason = " ".join(str(exc).split())[:1000]
            self._record("INFERENCE_FAILED", error_reason=f"rdfox.log: {reason}", rdfox_log_uri=uri)
            raise AirflowFailException(f"rdfox.log at {uri}: {reason}") from None
        from rdfox_pipeline.domain.legacy_stats import memory_usage_gigabytes, rdfox_statistics_raw

        stats_dict = stats_to_dict(stats)
        # The old table's names beside today's: its readers look for these.
        self._record(
            "INFERENCE_COMPLETE",
            rdfox_stats=stats_dict,
            rdfox_log_uri=uri,
            rdfox_statistics_raw=rdfox_statistics_raw(stats_dict),
            memory_usage_gigabytes=memory_usage_gigabytes(stats_dict),
        )
        self.log.info("Job %s: inference complete: %s", self.registration["job_id"], stats_dict)
        return stats_dict
