"""``JobMetadataHook``: the job table (DynamoDB) through an Airflow AWS connection.

The table logic lives in ``rdfox_pipeline.aws.job_table.JobTable`` (plain boto3, so the CLI works on a laptop
without Airflow's machinery); this hook gives it the connection's session, region and endpoint, as the Amazon
provider's hooks do, and reads the settings with the same connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from rdfox_pipeline.aws.job_table import (
    DEFAULT_INLINE_LIMIT,
    STATUS_INDEX_NAME,
    JobAlreadyFinished,
    JobIdAllocationError,
    JobMetadataError,
    JobNotFound,
    JobTable,
    UnexpectedJobStatus,
)
from rdfox_pipeline.domain.job_ids import JobId
from rdfox_pipeline.domain.statuses import JobStatus

__all__ = [
    "STATUS_INDEX_NAME",
    "JobAlreadyFinished",
    "JobIdAllocationError",
    "JobMetadataError",
    "JobMetadataHook",
    "JobNotFound",
    "UnexpectedJobStatus",
]


class JobMetadataHook(AwsBaseHook):
    """
    Read and write job records in the DynamoDB job table.

    :param table_name: the job table; default: the JOB_TABLE_NAME setting, read when first needed (never at
        DAG parse time).
    :param delimiter: the job id delimiter; default: the JOB_ID_DELIMETER setting.
    :param output_bucket: bucket for fields too large for the item; default: the record's jobspec
        ``output_bucket``, then the OUTPUT_BUCKET setting.
    :param inline_limit: size in bytes above which a field is written to S3 instead of the item.
    :param aws_conn_id: Airflow connection (default ``aws_default``); ``None`` means boto3's own defaults
        (environment credentials, ``AWS_ENDPOINT_URL``).
    """

    hook_name = "RDFox pipeline job metadata (DynamoDB)"

    def __init__(
        self,
        *args: Any,
        table_name: str | None = None,
        delimiter: str | None = None,
        output_bucket: str | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        **kwargs: Any,
    ) -> None:
        kwargs["client_type"] = "dynamodb"
        kwargs.pop("resource_type", None)
        super().__init__(*args, **kwargs)
        self._table_name = table_name
        self._delimiter = delimiter
        self._output_bucket = output_bucket
        self.inline_limit = inline_limit

    def _load_settings(self) -> Any:
        from rdfox_pipeline.aws.settings_loader import load_settings  # run time only: reads SSM

        # Same credentials as the hook: the Airflow connection, or boto3's defaults when there is none.
        return load_settings(aws_conn_id=self.aws_conn_id)

    def _s3_client(self) -> Any:
        # Same session and endpoint resolution as the DynamoDB client (connection extra or AWS_ENDPOINT_URL).
        return self.get_session(region_name=self.region_name).client(
            "s3",
            endpoint_url=self.conn_config.get_service_endpoint_url("s3"),
            config=self.config,
            verify=self.verify,
        )

    @cached_property
    def table(self) -> JobTable:
        """The job table over this hook's client (built on first use)."""
        return JobTable(
            self.conn,
            table_name=self._table_name,
            delimiter=self._delimiter,
            s3_client=self._s3_client,
            output_bucket=self._output_bucket,
            settings=self._load_settings,
            inline_limit=self.inline_limit,
            log=self.log,
        )

    @property
    def table_name(self) -> str:
        return self.table.table_name

    @property
    def delimiter(self) -> str:
        return self.table.delimiter

    def create_table_if_missing(self, wait_timeout: float = 300.0) -> bool:
        """Create the job table and its status index if missing (local stacks, tests); True if created."""
        return self.table.create_table_if_missing(wait_timeout)

    def parse_job_id(self, job_id: str) -> JobId:
        return self.table.parse_job_id(job_id)

    def allocate_job(
        self,
        dataset: str,
        *,
        day: date | None = None,
        jobspec: Any = None,
        dag_run_id: str | None = None,
        jobspec_notes: Sequence[str] | None = None,
        allocation_key: str | None = None,
    ) -> str:
        """Atomically allocate the next job id of ``dataset`` for ``day`` and write its CREATED record.

        Idempotent per ``allocation_key`` (``JobTable.allocate_job``): one run's tries get one id.
        """
        return self.table.allocate_job(
            dataset,
            day=day,
            jobspec=jobspec,
            dag_run_id=dag_run_id,
            jobspec_notes=jobspec_notes,
            allocation_key=allocation_key,
        )

    def record_status(
        self,
        job_id: str,
        status: JobStatus | str,
        *,
        expected_status: JobStatus | str | None = None,
        allowed_from: Sequence[JobStatus | str] | None = None,
        output_bucket: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Set the status and the given fields in one conditional update (see ``JobTable.record_status``)."""
        return self.table.record_status(
            job_id,
            status,
            expected_status=expected_status,
            allowed_from=allowed_from,
            output_bucket=output_bucket,
            **fields,
        )

    def claim_notification(self, job_id: str, outcome: str, token: str, *, lease_seconds: float) -> bool:
        """Take the right to publish the job's notification (see ``JobTable.claim_notification``)."""
        return self.table.claim_notification(job_id, outcome, token, lease_seconds=lease_seconds)

    def settle_notification_claim(
        self,
        job_id: str,
        outcome: str,
        token: str,
        state: str,
        *,
        details: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how the claimed publish went (see ``JobTable.settle_notification_claim``)."""
        self.table.settle_notification_claim(job_id, outcome, token, state, details=details, error=error)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        return self.table.get_job(job_id)

    def require_job(self, job_id: str) -> dict[str, Any]:
        return self.table.require_job(job_id)

    def list_jobs_page(
        self,
        status: JobStatus | str | None = None,
        page_size: int = 50,
        start_key: Mapping[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return self.table.list_jobs_page(status, page_size, start_key)

    def iter_jobs_by_status(self, status: JobStatus | str, page_size: int = 50) -> Iterator[dict[str, Any]]:
        return self.table.iter_jobs_by_status(status, page_size)

    def iter_jobs(
        self, status: JobStatus | str | None = None, page_size: int = 50
    ) -> Iterator[dict[str, Any]]:
        return self.table.iter_jobs(status, page_size)
