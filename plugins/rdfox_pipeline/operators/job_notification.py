"""Tell people a job ended: render the notification from the job record and publish it to SNS.

``JobNotificationOperator`` is the Amazon provider's ``SnsPublishOperator`` with the message worked out at
run time from the job record; after a successful publish it records the finished status
(SUCCESS_NOTIFICATION_SENT / ERROR_NOTIFICATION_SENT). A job that is already finished is never notified
twice: a retry after "published but status not written" is skipped rather than sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.amazon.aws.operators.sns import SnsPublishOperator

from rdfox_pipeline.domain.statuses import FINISHED_STATUSES, JobStatus

if TYPE_CHECKING:
    from airflow.sdk import Context

    from rdfox_pipeline.domain.settings import Settings
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

_FINAL_STATUS = {
    "success": JobStatus.SUCCESS_NOTIFICATION_SENT,
    "failure": JobStatus.ERROR_NOTIFICATION_SENT,
}
_MAX_FAILURE_REASON_CHARS = 1000


class JobNotificationOperator(SnsPublishOperator):
    """
    Publish a job's success or failure summary to SNS and mark the job finished.

    :param job_id: the job (templated), e.g. ``{{ ti.xcom_pull(task_ids='register_job')['job_id'] }}``.
    :param outcome: ``"success"`` or ``"failure"``.
    :param target_arn: topic ARN (templated); default: the BULKLOAD_TOPIC setting.
    :param table_name: job table; default: the JOB_TABLE_NAME setting.
    :param aws_conn_id: connection for SNS and DynamoDB (default ``aws_default``).

    Subject: the NOTIFICATION_SUBJECT_TEMPLATE setting filled in (e.g. the old system's
    ``Inference Result Notification for ID - {job_id} - JobStatus.{status}``), else the built-in one. The body
    says whether an RDFox endpoint was kept, until when and how to reach it.

    Message attributes: ``job_id``, ``status`` (the job status reported), ``outcome`` and ``dataset``, all
    Strings, so that subscribers can filter. Returns the SNS message id. When publishing fails, the job keeps
    its status and its record gets ``notification_error`` and ``notification_failures``; the task fails.
    """

    template_fields: Sequence[str] = (*SnsPublishOperator.template_fields, "job_id", "table_name")
    ui_color = "#f9c74f"

    def __init__(
        self,
        *,
        job_id: str,
        outcome: Literal["success", "failure"],
        target_arn: str | None = None,
        table_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if outcome not in _FINAL_STATUS:
            raise ValueError(f"outcome must be 'success' or 'failure', got {outcome!r}")
        # The message is rendered at run time from the job record; nothing to give here.
        kwargs.pop("message", None)
        kwargs.pop("subject", None)
        kwargs.pop("message_attributes", None)
        super().__init__(target_arn=target_arn or "", message="", **kwargs)
        self.job_id = job_id
        self.outcome = outcome
        self.table_name = table_name

    def _metadata_hook(self) -> JobMetadataHook:
        from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

        return JobMetadataHook(aws_conn_id=self.aws_conn_id, table_name=self.table_name or None)

    def _settings(self) -> Settings:
        from rdfox_pipeline.aws.settings_loader import load_settings  # run time only: reads SSM

        return load_settings(aws_conn_id=self.aws_conn_id)

    def _topic_arn(self, settings: Settings | None = None) -> str:
        if self.target_arn:
            return str(self.target_arn)
        topic = (settings or self._settings()).bulkload_topic
        if not topic:
            raise ValueError("no SNS topic: pass target_arn or set the BULKLOAD_TOPIC setting")
        return str(topic)

    def _known_secrets(self) -> list[str]:
        """The credentials in use, so that they can never be quoted into a message."""
        try:
            creds = self.hook.get_credentials()
        except Exception:  # no credentials to hide if none can be resolved
            return []
        return [v for v in (creds.access_key, creds.secret_key, creds.token) if v]

    def execute(self, context: Context) -> str | None:
        from rdfox_pipeline.compat import AirflowSkipException
        from rdfox_pipeline.notifications.redact import redact
        from rdfox_pipeline.notifications.render import render_notification

        job_id = str(self.job_id or "").strip()
        if not job_id or job_id == "None":
            if self.outcome == "failure":
                return self._notify_unregistered_run(context)
            raise ValueError("job_id is empty: no job to notify about (did the registration fail?)")
        metadata = self._metadata_hook()
        record = metadata.require_job(job_id)
        status = str(record.get("job_status"))
        if status in {s.value for s in FINISHED_STATUSES}:
            # Already told: a retry after the status write failed, or a second run of this task.
            raise AirflowSkipException(f"job {job_id} is already finished ({status}); not notifying again")

        secrets = self._known_secrets()
        # Settings first: a bad NOTIFICATION_SUBJECT_TEMPLATE fails here, naming it, before any publish.
        settings = self._settings()
        note = render_notification(
            record,
            outcome=self.outcome,
            secrets=secrets,
            subject_template=settings.notification_subject_template,
            namespace=settings.kubernetes_namespace,
        )
        self.target_arn = self._topic_arn(settings)
        self.subject = note.subject
        self.message = note.body
        self.message_attributes = dict(note.attributes)
        try:
            # One publish per task try: botocore's own bounded retries aside, a failure is recorded and
            # raised, and any further attempt is the DAG's (bounded) retry, never a loop here.
            response = super().execute(context)
        except Exception as exc:
            reason = " ".join(redact(f"{type(exc).__name__}: {exc}", secrets).split())
            failures = int(record.get("notification_failures") or 0) + 1
            try:
                # Keep the status (the job is not finished) and say why nobody was told.
                metadata.record_status(
                    job_id,
                    status,
                    expected_status=status,
                    notification_error=reason[:_MAX_FAILURE_REASON_CHARS],
                    notification_failures=failures,
                )
            except Exception:
                self.log.exception("Could not record the notification failure of job %s", job_id)
            raise
        # The provider returns the whole PublishResponse; only the id is worth keeping.
        message_id = response.get("MessageId") if isinstance(response, dict) else response
        metadata.record_status(
            job_id,
            _FINAL_STATUS[self.outcome],
            notification={
                "subject": note.subject,
                "message_id": message_id,
                "topic_arn": self.target_arn,
                "outcome": self.outcome,
            },
        )
        self.log.info("Job %s: %s notification sent (message id %s)", job_id, self.outcome, message_id)
        return message_id

    def _notify_unregistered_run(self, context: Context) -> str | None:
        """A run failed before any job record existed (e.g. its jobspec never arrived): still tell people.

        Added by the DAG's integrator (issue 7): there is no record to render from or to mark finished, so the
        message names the dag run and its failed tasks.
        """
        run_id = str(context["run_id"])
        self.target_arn = self._topic_arn()
        self.subject = f"RDFox job FAILED before registration (run {run_id})"[:100]
        self.message = (
            f"The run {run_id} of {context['dag'].dag_id} failed before a job could be registered (for "
            "example, its jobspec never arrived), so there is no job record. See the run in Airflow."
        )
        self.message_attributes = {"outcome": "failure", "status": "NO_JOB", "job_id": "none"}
        return super().execute(context)

