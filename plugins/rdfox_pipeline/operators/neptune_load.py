"""NeptuneBulkLoadOperator: start (or safely re-find) the Neptune load of a job's output; returns loadId."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseOperator

from rdfox_pipeline.compat import AirflowException, AirflowFailException
from rdfox_pipeline.domain.statuses import (
    NEPTUNE_ACTIVE_LOAD_STATUSES,
    NEPTUNE_TERMINAL_OK,
    JobStatus,
    neptune_job_status,
)
from rdfox_pipeline.links import NeptuneLoadStatusLink

REUSABLE_STATUSES = NEPTUNE_ACTIVE_LOAD_STATUSES | {NEPTUNE_TERMINAL_OK}
GUARD_SCAN_LIMIT = 100  # GET /loader lists at most 100 ids
ENDPOINT_XCOM_KEY = "neptune_endpoint"  # the base URL the load was started on, for the sensor to poll


def default_source(output_bucket: str, dataset: str, job_id: str) -> str:
    """Neptune loads the job's ``data/`` prefix only (loading rdfox.log too broke the old system's loads)."""
    return f"s3://{output_bucket}/{dataset}/{job_id}/data/"


def _bool(value: Any) -> str:
    return "TRUE" if value else "FALSE"


class NeptuneBulkLoadOperator(BaseOperator):
    """
    POST /loader for a job's output and record the loadId on the job, idempotently.

    Before posting, the job record is read: a recorded ``neptune_load_id`` that is queued, running or
    completed is reused. Before the POST, an intent (``neptune_load_source``) is recorded; if a worker died
    between the POST and the record write, the retry finds that load via GET /loader (matching
    ``overallStatus.fullUri``) instead of starting a second one.

    Loader parameters come from settings (SSM > env > defaults) with the jobspec's ``neptune.*`` overrides;
    explicit arguments win over both. The endpoint is the connection's host, or the job's
    NEPTUNE_CLUSTER_ENDPOINT setting when the connection has none; the two naming different endpoints fails
    the task before any request. The endpoint used is pushed as XCom ``neptune_endpoint`` so that the sensor
    polls the same one.

    :param region: Neptune's ``region`` body field (the cluster's region, default the AWS_DEFAULT_REGION
        setting); not the AWS client region, which is ``region_name``.
    :param neptune_conn_id: the Neptune connection (``neptune`` type).
    :param aws_conn_id: the AWS connection for the job table and settings, and the one that signs Neptune
        requests unless the Neptune connection's extra names another. None: boto3's default chain.
    :param region_name: AWS region of the job table and settings (and the signing region when the Neptune
        connection names none). None: the connection's.
    :param verify: TLS verification of the AWS calls (as the Amazon provider's operators take it).
    :param botocore_config: botocore ``Config`` keyword arguments for the AWS calls.
    """

    template_fields: Sequence[str] = tuple(
        sorted(
            {
                "aws_conn_id",
                "region_name",
                "verify",
                "job_id",
                "source",
                "iam_role_arn",
                "dataset",
                "output_bucket",
                "source_format",
                "region",
                "neptune_conn_id",
            }
        )
    )
    ui_color = "#8fbfe8"
    operator_extra_links = (NeptuneLoadStatusLink(),)

    def __init__(
        self,
        *,
        job_id: str,
        source: str | None = None,
        dataset: str | None = None,
        output_bucket: str | None = None,
        iam_role_arn: str | None = None,
        source_format: str | None = None,
        region: str | None = None,
        neptune_conn_id: str = "neptune_default",
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.source = source
        self.dataset = dataset
        self.output_bucket = output_bucket
        self.iam_role_arn = iam_role_arn
        self.source_format = source_format
        self.region = region
        self.neptune_conn_id = neptune_conn_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    # -- collaborators ----------------------------------------------------------------------------------
    def _metadata(self) -> Any:
        from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

        return JobMetadataHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def _neptune(self, cluster_endpoint: str | None = None) -> Any:
        from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook

        return NeptuneLoaderHook(
            self.neptune_conn_id,
            cluster_endpoint=cluster_endpoint,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    # -- parameters -------------------------------------------------------------------------------------
    def job_settings(self, record: Mapping[str, Any] | None) -> Any:
        """The settings this job runs with: its jobspec's per-job overrides > SSM > environment > defaults."""
        from rdfox_pipeline.aws.settings_loader import load_settings
        from rdfox_pipeline.sensors.neptune_load_status import recorded_jobspec

        return load_settings(recorded_jobspec(record), aws_conn_id=self.aws_conn_id)

    def load_parameters(self, record: Mapping[str, Any] | None) -> dict[str, Any]:
        """Neptune's POST /loader body for this job (settings < jobspec overrides < operator arguments).

        A missing source, role or region is a configuration error: AirflowFailException (no retry).
        """
        from rdfox_pipeline.sensors.neptune_load_status import recorded_jobspec

        jobspec = recorded_jobspec(record)
        settings = self.job_settings(record)
        source = self.source
        if not source:
            bucket = (
                self.output_bucket or (jobspec.output_bucket if jobspec else None) or settings.output_bucket
            )
            dataset = self.dataset or (record or {}).get("dataset") or (jobspec.dataset if jobspec else None)
            if not bucket or not dataset:
                raise AirflowFailException(
                    f"job {self.job_id}: cannot tell the load source: give source=, or an output_bucket "
                    "(argument, jobspec or OUTPUT_BUCKET setting) and a dataset (argument or job record)"
                )
            source = default_source(bucket, dataset, self.job_id)
        role = self.iam_role_arn or settings.neptune_iam_role_arn
        if not role:
            raise AirflowFailException(
                "NEPTUNE_IAM_ROLE_ARN is not set (setting, jobspec neptune.iam_role_arn or arg)"
            )
        region = self.region or settings.aws_default_region
        if not region:
            raise AirflowFailException(
                "the Neptune cluster region is not set (AWS_DEFAULT_REGION setting or region=)"
            )
        params: dict[str, Any] = {
            "source": source,
            "format": self.source_format or settings.neptune_source_format,
            "iamRoleArn": role,
            "region": region,
            "mode": settings.neptune_load_mode,
            "failOnError": _bool(settings.neptune_fail_on_error),
            "parallelism": settings.neptune_parallelism,
            "updateSingleCardinalityProperties": _bool(settings.neptune_update_single_cardinality_properties),
            "queueRequest": _bool(settings.neptune_queue_request),
        }
        if settings.neptune_parser_configuration:
            params["parserConfiguration"] = dict(settings.neptune_parser_configuration)
        return params

    # -- idempotency ------------------------------------------------------------------------------------
    def _reusable(self, neptune: Any, load_id: str) -> str | None:
        """The load's status if it may be reused (queued, running or completed)."""
        from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderError

        try:
            overall = neptune.get_load_status(load_id, details=False).get("overallStatus") or {}
        except NeptuneLoaderError as exc:
            if exc.status_code == 404:
                return None  # Neptune forgot it (it keeps only the last 1,024 loads)
            raise
        status = overall.get("status")
        return str(status) if status in REUSABLE_STATUSES else None

    def _find_unrecorded_load(self, neptune: Any, source: str) -> str | None:
        """A load of ``source`` Neptune knows but the job record does not (its POST's answer was lost)."""
        return neptune.find_load(source, REUSABLE_STATUSES, limit=GUARD_SCAN_LIMIT)

    # -- run --------------------------------------------------------------------------------------------
    def execute(self, context: Any) -> str:
        from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderError

        metadata = self._metadata()
        record = metadata.get_job(self.job_id)
        if record is None:
            raise AirflowException(f"job {self.job_id} has no record in the job table")
        params = self.load_parameters(record)
        source = params["source"]
        neptune = self._neptune(self.job_settings(record).neptune_cluster_endpoint)
        # Resolved (and its source logged) before any request: a conflicting setting fails here.
        endpoint = neptune.endpoint.base_url
        if context and context.get("ti") is not None:
            context["ti"].xcom_push(key=ENDPOINT_XCOM_KEY, value=endpoint)

        recorded = record.get("neptune_load_id")
        if recorded:
            status = self._reusable(neptune, str(recorded))
            if status is not None:
                self.log.info(
                    "Reusing Neptune load %s recorded on job %s (%s)", recorded, self.job_id, status
                )
                return str(recorded)
            self.log.info("Recorded Neptune load %s is not reusable; starting a new load", recorded)

        if record.get("neptune_load_source") == source:
            # An earlier attempt got as far as the POST: did Neptune start that load?
            load_id = self._find_unrecorded_load(neptune, source)
            if load_id is not None:
                self.log.info("Found Neptune load %s for %s from an earlier attempt", load_id, source)
                status = self._first_status(neptune, load_id)
                metadata.record_status(self.job_id, neptune_job_status(status), neptune_load_id=load_id)
                return load_id

        metadata.record_status(
            self.job_id,
            JobStatus.NEPTUNE_LOAD_NOT_STARTED,
            neptune_load_source=source,
            neptune_load_requested_at=datetime.now(UTC).isoformat(),
        )
        self.log.info("Starting Neptune load of %s (format %s)", source, params["format"])
        # A POST whose answer is lost may still have started the load: look for it before posting again.
        try:
            load_id = neptune.start_load(
                find_existing=lambda: self._find_unrecorded_load(neptune, source), **params
            )
        except NeptuneLoaderError as exc:
            # Neptune's refusals ("Couldn't find the AWS credential for iam_role_arn") name neither the role
            # nor the bucket; the job record and the failure notification must.
            context_note = f"(source {source}, iamRoleArn {params['iamRoleArn']})"
            raise type(exc)(
                exc.status_code, exc.code, f"{exc.detailed_message} {context_note}", exc.request_id
            ) from exc
        status = self._first_status(neptune, load_id)
        metadata.record_status(self.job_id, neptune_job_status(status), neptune_load_id=load_id)
        return load_id

    def _first_status(self, neptune: Any, load_id: str) -> str:
        try:
            status = (neptune.get_load_status(load_id, details=False).get("overallStatus") or {}).get(
                "status"
            )
        except Exception as exc:  # the id must be recorded even if this read fails
            self.log.warning("could not read the status of new load %s: %s", load_id, exc)
            status = None
        # A load that already ended is recorded as started; the sensor records how it ended.
        return status if status in NEPTUNE_ACTIVE_LOAD_STATUSES else "LOAD_IN_PROGRESS"
