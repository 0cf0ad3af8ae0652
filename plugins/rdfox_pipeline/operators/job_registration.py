"""Registering a job: find its jobspec, validate it, allocate the job id (status CREATED).

A run gets its jobspec in one of three ways, checked in this order (``domain/run_request.py``):

1. inline, as the run's ``jobspec`` param (the REST API, ``airflow dags test -c``, the form's advanced part);
2. by location, as the run's ``jobspec_uri`` param: ``s3://bucket/key`` or a key in the input bucket;
3. built from the trigger form's fields (dataset, cores, memory, ...), which never mix with 1 or 2.

An upload to the input bucket (S3 event -> SQS -> asset watcher -> asset-triggered run) becomes case 2: the
asset-triggered run registers nothing itself (both tasks here skip) and starts one run per uploaded jobspec
with its ``jobspec_uri`` (``upload_fanout``).

``JobspecKeySensor`` waits for a jobspec given by location (skips when it is inline); ``RegisterJobOperator``
validates it and writes the job record. An invalid jobspec is recorded as SCHEDULE_FAILED with the one-line
error, and the task fails, so that only the failure notification runs: no pod, no load.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from rdfox_pipeline.domain.settings import Settings

# Jobs whose jobspec was unreadable or named no valid dataset are recorded under this dataset, so that the
# failure is still visible in the table. It contains no character a job id delimiter may be.
INVALID_DATASET = "INVALID-JOBSPEC"
MAX_JOBSPEC_BYTES = 1024 * 1024


class JobspecNotFound(ValueError):
    """The run names no jobspec at all, or names it in a form that cannot be used."""


@dataclass(frozen=True)
class JobspecLocation:
    bucket: str
    key: str
    # The S3 event's ``sequencer`` (one per object write; duplicated notifications share it), when the
    # location came from an upload: with bucket and key it names the upload (``upload_run_id``).
    sequencer: str = field(default="", compare=False)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def dataset_hint(self) -> str | None:
        """The dataset a key ``<dataset>/<name>.rdfoxjob.json`` is filed under."""
        head, sep, _ = self.key.partition("/")
        return head if sep and head else None


def parse_location(text: str, default_bucket: str | None) -> JobspecLocation:
    """``s3://bucket/key`` or a bare key in ``default_bucket``; JobspecNotFound says what is wrong."""
    text = text.strip()
    if text.startswith("s3://"):
        bucket, _, key = text[len("s3://") :].partition("/")
        if not bucket or not key:
            raise JobspecNotFound(f"jobspec_uri: {text!r} must look like s3://<bucket>/<key>")
        return JobspecLocation(bucket, key)
    if "://" in text:
        raise JobspecNotFound(f"jobspec_uri: {text!r} is not an s3:// URI")
    if not default_bucket:
        raise JobspecNotFound(
            f"jobspec_uri: {text!r} is a key but no input bucket is configured (INPUT_BUCKET); use s3://..."
        )
    return JobspecLocation(default_bucket, text.lstrip("/"))


def check_origin(location: JobspecLocation, dataset: str, input_bucket: str | None) -> None:
    """An uploaded jobspec runs only on the data it was filed with: its dataset must be its key's first
    path segment and its object must be in the job's input bucket (``jobspec_uri`` and asset events alike),
    so that whoever may write under one dataset's folder cannot start jobs on another's."""
    from rdfox_pipeline.domain.jobspec import JobSpecError

    if location.bucket != input_bucket:
        raise JobSpecError(
            "jobspec_uri",
            f"{location.uri} is in bucket {location.bucket!r}, not in the input bucket "
            f"{input_bucket!r}; jobspecs run only from the input bucket",
        )
    if location.dataset_hint != dataset:
        filed = f"{location.dataset_hint!r}" if location.dataset_hint else "no dataset folder"
        raise JobSpecError(
            "dataset",
            f"{dataset!r} is not the dataset the jobspec is filed under: {location.uri} is under {filed}; "
            f"upload it as {dataset}/<name>.rdfoxjob.json",
        )


def _s3_records(payload: Any) -> Iterable[tuple[str, str, str]]:
    """(bucket, key, sequencer) of each object-created record in an S3 event notification (raw or via SNS).

    Anything else (``s3:TestEvent``, another event type, a body that is not JSON) yields nothing."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return
    if not isinstance(payload, Mapping):
        return
    if isinstance(payload.get("Message"), str):  # S3 -> SNS -> SQS wraps the event once more
        yield from _s3_records(payload["Message"])
        return
    for record in payload.get("Records") or ():
        s3 = record.get("s3") if isinstance(record, Mapping) else None
        if not isinstance(s3, Mapping):
            continue
        bucket = (s3.get("bucket") or {}).get("name")
        key = (s3.get("object") or {}).get("key")
        if bucket and key and str(record.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
            sequencer = str((s3.get("object") or {}).get("sequencer") or "")
            yield bucket, unquote_plus(key), sequencer  # S3 URL-encodes keys in notifications


def _event_field(event: Any, name: str) -> Any:
    return getattr(event, name, None) or (event.get(name) if isinstance(event, Mapping) else None)


def _event_order(event: Any) -> str:
    """Sort key of an asset event: its timestamp (the events of one run carry no id), as ISO text."""
    stamp = _event_field(event, "timestamp")
    return stamp.isoformat() if hasattr(stamp, "isoformat") else str(stamp or "")


def locations_from_asset_events(events: Iterable[Any], jobspec_suffix: str) -> list[JobspecLocation]:
    """Jobspec objects named by the SQS messages of triggering asset events (``extra`` of each event).

    Oldest event first (``UploadFanOutOperator`` starts one run for each), each upload once (a notification
    S3 delivered twice names the same key and sequencer). Messages that name no jobspec (a test event,
    another suffix, a folder) are left out without affecting the others.
    """
    found: list[JobspecLocation] = []
    seen: set[tuple[str, str, str]] = set()
    for event in sorted(events, key=_event_order):  # stable: equal stamps keep the scheduler's order
        extra = _event_field(event, "extra")
        if not isinstance(extra, Mapping):
            continue
        # SqsSensorTrigger's event payload: {"status": ..., "message_batch": [{"Body": "...", ...}]}
        payload = extra.get("payload", extra)
        for message in payload.get("message_batch") or () if isinstance(payload, Mapping) else ():
            body = message.get("Body") if isinstance(message, Mapping) else None
            for bucket, key, sequencer in _s3_records(body):
                if key.endswith(jobspec_suffix) and (bucket, key, sequencer) not in seen:
                    seen.add((bucket, key, sequencer))
                    found.append(JobspecLocation(bucket, key, sequencer))
    return found


def _asset_events(context: Context) -> list[Any]:
    events = context.get("triggering_asset_events") or {}
    out: list[Any] = []
    for per_asset in events.values():
        out.extend(per_asset)
    return out


def inline_jobspec(context: Context) -> Mapping[str, Any] | str | None:
    """The run's jobspec document, inline or built from the form's fields, or None (it names a location or
    nothing). A form-built one is as if that JSON had been uploaded (``domain/run_request.py``)."""
    from rdfox_pipeline.domain.run_request import resolve_run_request

    return resolve_run_request(context.get("params") or {}).document


def from_form(context: Context) -> bool:
    """Whether the run's jobspec is built from the trigger form's fields (errors then name those fields)."""
    from rdfox_pipeline.domain.run_request import RunRequestError, resolve_run_request

    try:
        return resolve_run_request(context.get("params") or {}).source == "form"
    except RunRequestError:
        return False


def is_upload_dispatch(context: Context) -> bool:
    """An asset-triggered run: it starts one run per upload (``start_upload_runs``) and runs no job itself.

    Airflow hands an asset-triggered run every event queued since the previous one, and leaves out events
    that arrive while the run is being created (they wait for a later run): so no such run can stand for
    one upload. Each upload gets its own run instead, named after it (``upload_fanout``).
    """
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return str(getattr(run_type, "value", run_type)) == "asset_triggered" or bool(_asset_events(context))


def jobspec_location(context: Context, settings: Settings) -> JobspecLocation | None:
    """Where the run's jobspec is, when it is not inline; None when the run names no location."""
    params = context.get("params") or {}
    uri = params.get("jobspec_uri")
    if isinstance(uri, str) and uri.strip():
        return parse_location(uri, settings.input_bucket)
    return None


def _allocation_key(dag_run_id: str, location: JobspecLocation | None, raw: Any) -> str:
    """One run's idempotency key: its dag run id and where its jobspec is (or, inline, what it says)."""
    from rdfox_pipeline.aws.job_table import allocation_key

    if location is not None:
        return allocation_key(dag_run_id, location.uri)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return allocation_key(dag_run_id, "inline:" + json.dumps(raw, sort_keys=True, default=str))


def _load_settings(aws_conn_id: str | None, overrides: Mapping[str, Any] | None = None) -> Settings:
    from rdfox_pipeline.aws.settings_loader import load_settings  # run time only: reads SSM

    # Through the task's connection, like every other task (not boto3's default credentials).
    return load_settings(overrides, aws_conn_id=aws_conn_id)


class JobspecKeySensor(S3KeySensor):
    """Wait (deferrable) for the run's jobspec object; skipped when the jobspec is inline or not given.

    The location is worked out at run time from the run's params, so the sensor needs no templated key.
    Skipping (rather than failing) leaves the error to ``register_job``, which records it against the job.
    """

    def __init__(self, *, aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        kwargs.setdefault("deferrable", True)
        kwargs.setdefault("poke_interval", 30)
        kwargs.setdefault("timeout", 6 * 3600)
        super().__init__(bucket_key="", aws_conn_id=aws_conn_id, **kwargs)

    def execute(self, context: Context) -> None:
        from rdfox_pipeline.compat import AirflowSkipException

        if is_upload_dispatch(context):
            raise AirflowSkipException("an upload run: start_upload_runs starts one run per uploaded jobspec")
        from rdfox_pipeline.domain.run_request import RunRequestError

        try:
            if inline_jobspec(context) is not None:
                raise AirflowSkipException("the jobspec is inline or from the form: nothing to wait for")
            location = jobspec_location(context, _load_settings(self.aws_conn_id))
        except (JobspecNotFound, RunRequestError) as exc:
            raise AirflowSkipException(
                f"no usable jobspec location ({exc}); register_job reports it"
            ) from None
        if location is None:
            raise AirflowSkipException("the run names no jobspec; register_job reports it")
        self.bucket_name = location.bucket
        self.bucket_key = [location.key]
        self.log.info("Waiting for the jobspec %s", location.uri)
        super().execute(context)


class RegisterJobOperator(BaseOperator):
    """Validate the run's jobspec and allocate its job id; returns the registration (no secrets).

    XCom ``return_value``: ``{"job_id", "dataset", "jobspec" (normalised), "jobspec_notes", "jobspec_uri",
    "input_prefix", "output_prefix", "rdfox_log_uri"}``. ``jobspec_notes`` say which old flat-form keys were
    accepted but are not used as the old system used them; they are logged and written to the job record
    (field ``jobspec_notes``) in the same write that creates it.

    Retried: allocation is idempotent per run (``allocation_key`` of the dag run id and the jobspec's
    location, or its content when inline), so a retry or a cleared rerun takes up the CREATED record an
    earlier try wrote, and a DynamoDB reply lost after the write never costs a second id. Invalid input
    fails at once (``AirflowFailException``: a retry would read the same jobspec). Each registration also
    marks its dataset's orphans (CREATED for longer than ``ORPHAN_AFTER``) SCHEDULE_FAILED with a reason.
    """

    ui_color = "#e8f0fe"

    def __init__(self, *, aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        kwargs.setdefault("retries", 2)
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id

    def _hook(self, settings: Settings) -> Any:
        from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

        return JobMetadataHook(
            aws_conn_id=self.aws_conn_id,
            table_name=settings.job_table_name,
            delimiter=settings.job_id_delimeter,
        )

    def _read_object(self, location: JobspecLocation) -> bytes:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from rdfox_pipeline.aws.s3_bounded import ObjectTooLarge, read_at_most
        from rdfox_pipeline.domain.jobspec import JobSpecError

        client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        try:
            return read_at_most(client, location.bucket, location.key, MAX_JOBSPEC_BYTES)
        except ObjectTooLarge as exc:
            raise JobSpecError("jobspec", str(exc)) from None

    def execute(self, context: Context) -> dict[str, Any]:
        # Imported here, not at module level: building the jobspec models costs ~0.2 s at every DAG parse.
        from rdfox_pipeline.compat import AirflowFailException
        from rdfox_pipeline.domain.jobspec import JobSpecError
        from rdfox_pipeline.domain.jobspec_policy import check_pod_start, parse_jobspec_for_run

        if is_upload_dispatch(context):
            from rdfox_pipeline.compat import AirflowSkipException

            raise AirflowSkipException("an upload run: start_upload_runs starts one run per uploaded jobspec")
        base = _load_settings(self.aws_conn_id)
        dag_run_id = context["run_id"]
        location: JobspecLocation | None = None
        raw: Any = None
        try:
            raw = inline_jobspec(context)
            if raw is None:
                location = jobspec_location(context, base)
                if location is None:
                    raise JobspecNotFound(
                        "jobspec: the run names no jobspec (give the jobspec param, or jobspec_uri, "
                        "or upload <dataset>/<name>." + base.jobspec_name + " to the input bucket)"
                    )
                raw = self._read_object(location)
            # The same check as `rdfox-pipeline jobspec validate` and `pod render` (domain/jobspec_policy.py).
            spec, notes = parse_jobspec_for_run(raw, base)
            check_pod_start(base)
            settings = _load_settings(self.aws_conn_id, spec.setting_overrides())
            input_bucket = spec.job_bucket or settings.input_bucket
            if location is not None:
                check_origin(location, spec.dataset, input_bucket)
            if input_bucket:
                self._require_input(input_bucket, spec.dataset, settings.jobspec_name)
        except (JobSpecError, JobspecNotFound, ValueError) as exc:
            if isinstance(exc, JobSpecError) and from_form(context):
                from rdfox_pipeline.domain.run_request import form_error

                exc = form_error(exc)  # named by the form's field: what the person filled in
            self._record_invalid(context, base, raw, location, dag_run_id, exc)
            # Fails the task without retries (the jobspec will not change): only notify_failure runs.
            raise AirflowFailException(str(exc)) from exc

        for note in notes:
            self.log.info("Jobspec note: %s", note)
        hook = self._hook(base)
        job_id = hook.allocate_job(
            spec.dataset,
            jobspec=spec,
            dag_run_id=dag_run_id,
            jobspec_notes=notes,
            allocation_key=_allocation_key(dag_run_id, location, raw),
        )
        output_bucket = spec.output_bucket or settings.output_bucket
        input_bucket = spec.job_bucket or settings.input_bucket
        if not output_bucket or not input_bucket:
            missing = "output_bucket" if not output_bucket else "job_bucket"
            error = JobSpecError(missing, "is not given and no default bucket setting is configured")
            hook.record_status(job_id, "SCHEDULE_FAILED", error_reason=str(error))
            context["ti"].xcom_push(key="failed_job_id", value=job_id)
            raise AirflowFailException(str(error)) from error
        output_prefix = f"s3://{output_bucket}/{spec.dataset}/{job_id}/"
        registration = {
            "job_id": job_id,
            "dataset": spec.dataset,
            "jobspec": spec.to_json_dict(),
            "jobspec_notes": list(notes),
            "jobspec_uri": location.uri if location else None,
            "input_prefix": f"s3://{input_bucket}/{spec.dataset}/",
            "output_prefix": output_prefix,
            "rdfox_log_uri": output_prefix + settings.rdfoxlog_name,
        }
        # Where the jobspec came from and where the outputs go, on the record for people reading the table.
        hook.record_status(
            job_id,
            "CREATED",
            expected_status="CREATED",
            jobspec_uri=registration["jobspec_uri"],
            output_prefix=output_prefix,
        )
        self.log.info("Registered job %s (dataset %s), outputs under %s", job_id, spec.dataset, output_prefix)
        self._fail_orphans(hook, spec.dataset, job_id, dag_run_id)
        return registration

    def _fail_orphans(self, hook: Any, dataset: str, job_id: str, dag_run_id: str) -> None:
        """Mark the dataset's orphan records failed; never fails the registration that found them."""
        from rdfox_pipeline.aws.job_orphans import fail_orphans

        try:
            fail_orphans(
                hook.table,
                f"the registration of job {job_id} (dag run {dag_run_id})",
                dataset=dataset,
                exclude=frozenset({job_id}),
            )
        except Exception:  # the sweep is housekeeping: this run's own job is registered either way
            self.log.warning("Could not look for orphan jobs of dataset %s", dataset, exc_info=True)

    def _require_input(self, bucket: str, dataset: str, jobspec_suffix: str) -> None:
        """Refuse a dataset with no input files now, before any pod starts (it would only fail later).

        Jobspecs filed under ``<dataset>/`` do not count as input. Added by the issue-9 helper.
        """
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.exceptions import ClientError

        from rdfox_pipeline.domain.jobspec import JobSpecError

        client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        try:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{dataset}/", PaginationConfig={"PageSize": 100}
            ):
                for obj in page.get("Contents") or ():
                    key = str(obj["Key"])
                    if not key.endswith(("/", jobspec_suffix)):
                        return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchBucket", "404"):
                raise JobSpecError("job_bucket", f"the bucket {bucket!r} does not exist") from None
            raise
        raise JobSpecError("dataset", f"{dataset!r} has no input files under s3://{bucket}/{dataset}/")

    def _record_invalid(
        self,
        context: Context,
        settings: Settings,
        raw: Any,
        location: JobspecLocation | None,
        dag_run_id: str,
        error: Exception,
    ) -> None:
        """Record SCHEDULE_FAILED under the dataset the jobspec names (if any), so the failure is visible."""
        from rdfox_pipeline.domain.validators import check_dataset

        reason = " ".join(str(error).split())[:1000]  # one line, bounded
        candidates = []
        if isinstance(raw, str | bytes):  # JSON text (a REST client's conf): its dataset if it has one
            with contextlib.suppress(ValueError):
                raw = json.loads(raw)
        if isinstance(raw, Mapping):
            candidates += [raw.get("dataset"), raw.get("job_key")]
        if location is not None:
            candidates.append(location.dataset_hint)
        dataset = INVALID_DATASET
        for candidate in candidates:
            if isinstance(candidate, str):
                try:
                    dataset = check_dataset(candidate, settings.job_id_delimeter)
                    break
                except ValueError:
                    continue
        hook = self._hook(settings)
        job_id = hook.allocate_job(
            dataset, dag_run_id=dag_run_id, allocation_key=_allocation_key(dag_run_id, location, raw)
        )
        fields: dict[str, Any] = {"error_reason": reason}
        if location is not None:
            fields["jobspec_uri"] = location.uri
        hook.record_status(job_id, "SCHEDULE_FAILED", **fields)
        # notify_failure finds the job through this XCom even though the task fails.
        context["ti"].xcom_push(key="failed_job_id", value=job_id)
        self.log.error("Invalid jobspec, job %s recorded as SCHEDULE_FAILED: %s", job_id, reason)
