"""Tell people a job ended: render the notification from the job record and publish it to SNS.

``JobNotificationOperator`` is the Amazon provider's ``SnsPublishOperator`` with the message worked out at
run time from the job record; after a successful publish it records the finished status
(SUCCESS_NOTIFICATION_SENT / ERROR_NOTIFICATION_SENT).

Exactly one notification per job outcome. Before publishing, a try takes the job's ``notification_claim``
with a conditional write (one winner among concurrent tries); after publishing it marks the claim
``published`` (a small write of its own), then writes the finished status. So a retry after "published,
status not written" only writes the status; a publish that failed leaves the claim ``failed`` for the next
try; a try that died between publish and record leaves ``publishing``, taken over once older than the lease
and published again: on a FIFO topic with the same MessageDeduplicationId (job id + outcome), which SNS drops
inside its 5-minute window; on a standard topic subscribers may then get that message twice (never a
different outcome). A job whose data loaded is announced as succeeded, never as failed.

Before announcing a failure, ``notify_failure`` records one that no task recorded (a task marked failed, a
lost worker): the run's failed task and the job's last status (``operators/failure_record.py``).
"""

from __future__ import annotations

import hashlib
import string
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.amazon.aws.operators.sns import SnsPublishOperator

from rdfox_pipeline.aws.job_table import (
    CLAIM_FAILED,
    CLAIM_PUBLISHED,
    NOTIFICATION_CLAIM_FIELD,
)
from rdfox_pipeline.domain.statuses import FINISHED_STATUSES, JobStatus
from rdfox_pipeline.operators.failure_record import record_failed_task

if TYPE_CHECKING:
    from airflow.sdk import Context

    from rdfox_pipeline.domain.settings import Settings
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

_FINAL_STATUS = {
    "success": JobStatus.SUCCESS_NOTIFICATION_SENT,
    "failure": JobStatus.ERROR_NOTIFICATION_SENT,
}
_MAX_FAILURE_REASON_CHARS = 1000
# Longer than one publish can take with _SNS_CONFIG (3 attempts of at most 10 s + 30 s), shorter than SNS's
# 5-minute FIFO deduplication window: a try that takes over a dead try's claim republishes inside it.
DEFAULT_CLAIM_LEASE_SECONDS = 180.0
_SNS_CONFIG = {"connect_timeout": 10, "read_timeout": 30, "retries": {"mode": "standard", "max_attempts": 3}}
_CLAIM_POLL_SECONDS = 2.0
_FIFO_ID_CHARS = frozenset(string.ascii_letters + string.digits + string.punctuation)


def _fifo_id(text: str) -> str:
    """``text`` if SNS takes it as a group/deduplication id (<= 128 printable ASCII), else its SHA-256."""
    if 0 < len(text) <= 128 and set(text) <= _FIFO_ID_CHARS:
        return text
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class JobNotificationOperator(SnsPublishOperator):
    """
    Publish a job's success or failure summary to SNS and mark the job finished.

    :param job_id: the job (templated), e.g. ``{{ ti.xcom_pull(task_ids='register_job')['job_id'] }}``.
    :param outcome: ``"success"`` or ``"failure"``.
    :param target_arn: topic ARN (templated); default: the BULKLOAD_TOPIC setting.
    :param table_name: job table; default: the JOB_TABLE_NAME setting.
    :param aws_conn_id: connection for SNS and DynamoDB (default ``aws_default``).
    :param claim_lease_seconds: how long another try's unrecorded publish claim is waited for before this try
        takes it over (default 180 s: more than one bounded SNS publish, under FIFO deduplication's 5 min).

    Subject: the NOTIFICATION_SUBJECT_TEMPLATE setting filled in (e.g. the old system's
    ``Inference Result Notification for ID - {job_id} - JobStatus.{status}``), else the built-in one. The body
    says whether an RDFox endpoint was kept, until when and how to reach it.

    Message attributes: ``job_id``, ``status`` (the job status reported), ``outcome`` and ``dataset``, all
    Strings, so that subscribers can filter. Returns the SNS message id. When publishing fails, the job keeps
    its status and its record gets ``notification_error`` and ``notification_failures``; the task fails.
    """

    # job_summary first: the UI lists the rendered fields in this order, and it is what a person looks for.
    template_fields: Sequence[str] = (
        "job_summary",
        *SnsPublishOperator.template_fields,
        "job_id",
        "table_name",
    )
    template_fields_renderers = {"job_summary": "json"}
    # ``job_summary`` is filled in by execute: Airflow stores the rendered fields again once the task ended
    # (3.0 and later), so the run's headline figures show under the task's "Rendered Templates".
    overwrite_rtif_after_execution = True
    ui_color = "#f9c74f"

    def __init__(
        self,
        *,
        job_id: str,
        outcome: Literal["success", "failure"],
        target_arn: str | None = None,
        table_name: str | None = None,
        claim_lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS,
        **kwargs: Any,
    ) -> None:
        if outcome not in _FINAL_STATUS:
            raise ValueError(f"outcome must be 'success' or 'failure', got {outcome!r}")
        if not claim_lease_seconds > 0:
            raise ValueError(f"claim_lease_seconds must be > 0, got {claim_lease_seconds!r}")
        kwargs.setdefault("botocore_config", _SNS_CONFIG)
        # The message is rendered at run time from the job record; nothing to give here.
        kwargs.pop("message", None)
        kwargs.pop("subject", None)
        kwargs.pop("message_attributes", None)
        super().__init__(target_arn=target_arn or "", message="", **kwargs)
        self.job_id = job_id
        self.outcome = outcome
        self.table_name = table_name
        self.claim_lease_seconds = float(claim_lease_seconds)
        self.job_summary: dict[str, Any] | str = ""

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
        try:
            return self._notify(context)
        finally:
            self._summarise()

    def _summarise(self) -> None:
        """The job's headline figures as this task's rendered ``job_summary`` (and one log line)."""
        from rdfox_pipeline.notifications.summary import run_summary

        job_id = str(self.job_id or "").strip()
        if not job_id or job_id == "None":
            return
        try:
            record = self._metadata_hook().get_job(job_id)
        except Exception:  # a summary is a courtesy: it must not hide the task's own outcome
            self.log.warning("Job %s: could not read the record for the run's summary", job_id, exc_info=True)
            return
        if record:
            self.job_summary = run_summary(record, self._known_secrets())
            self.log.info("Job summary: %s", self.job_summary)

    def _notify(self, context: Context) -> str | None:
        from rdfox_pipeline.compat import AirflowSkipException
        from rdfox_pipeline.hooks.job_metadata import JobAlreadyFinished
        from rdfox_pipeline.notifications.render import render_notification

        job_id = str(self.job_id or "").strip()
        if not job_id or job_id == "None":
            if self.outcome == "failure":
                return self._notify_unregistered_run(context)
            raise ValueError("job_id is empty: no job to notify about (did the registration fail?)")
        metadata = self._metadata_hook()
        record = metadata.require_job(job_id)
        if self.outcome == "failure" and record_failed_task(metadata, job_id, context.get("ti")):
            # Nobody recorded the failure (a task marked failed, a lost worker): now the record says it.
            record = metadata.require_job(job_id)
        status = str(record.get("job_status"))
        if status in {s.value for s in FINISHED_STATUSES}:
            # Already told: a retry after the status write failed, or a second run of this task.
            raise AirflowSkipException(f"job {job_id} is already finished ({status}); not notifying again")
        outcome = self._outcome_for(job_id, record)
        claim = record.get(NOTIFICATION_CLAIM_FIELD) or {}
        if claim.get("outcome") == outcome and claim.get("state") == CLAIM_PUBLISHED:
            # An earlier try published and could not record the status: record it, publish nothing.
            return self._finish(metadata, job_id, outcome, claim)

        secrets = self._known_secrets()
        # Settings first: a bad NOTIFICATION_SUBJECT_TEMPLATE fails here, naming it, before any publish.
        settings = self._settings()
        note = render_notification(
            record,
            outcome=outcome,
            secrets=secrets,
            subject_template=settings.notification_subject_template,
            namespace=settings.kubernetes_namespace,
        )
        self.target_arn = self._topic_arn(settings)
        self.subject = note.subject
        self.message = note.body
        self.message_attributes = dict(note.attributes)
        self._set_fifo_ids(job_id, f"{job_id}.{outcome}")

        token = uuid.uuid4().hex
        try:
            published = self._claim(metadata, job_id, outcome, token)
        except JobAlreadyFinished as exc:
            raise AirflowSkipException(f"{exc}; not notifying again") from None
        if published is not None:
            return self._finish(metadata, job_id, outcome, published)
        try:
            # One publish per task try: botocore's own bounded retries aside, a failure is recorded and
            # raised, and any further attempt is the DAG's (bounded) retry, never a loop here.
            response = super().execute(context)
        except Exception as exc:
            self._record_publish_failure(metadata, job_id, outcome, token, exc, secrets)
            raise
        # The provider returns the whole PublishResponse; only the id is worth keeping.
        message_id = response.get("MessageId") if isinstance(response, dict) else response
        notification = {
            "subject": note.subject,
            "message_id": message_id,
            "topic_arn": self.target_arn,
            "outcome": outcome,
        }
        try:
            # Small and first: a retry that finds it knows the message went out, even if the status
            # write below fails.
            metadata.settle_notification_claim(job_id, outcome, token, CLAIM_PUBLISHED, details=notification)
        except Exception:
            self.log.exception("Job %s: published, but could not mark the claim published", job_id)
        self.log.info("Job %s: %s notification sent (message id %s)", job_id, outcome, message_id)
        return self._finish(metadata, job_id, outcome, notification)

    def _outcome_for(self, job_id: str, record: Mapping[str, Any]) -> Literal["success", "failure"]:
        """What to announce: a job whose data loaded is never announced as failed.

        ``notify_failure`` also runs when only ``notify`` failed (SNS down, the status write lost): the job
        then succeeded, and the success message is what its subscribers must get (at most once).
        """
        claim = record.get(NOTIFICATION_CLAIM_FIELD) or {}
        loaded = record.get("job_status") == JobStatus.NEPTUNE_LOAD_COMPLETED.value
        if self.outcome == "failure" and (loaded or claim.get("outcome") == "success"):
            self.log.warning(
                "Job %s: its data loaded into Neptune and only its success notification failed; "
                "announcing success, not failure",
                job_id,
            )
            return "success"
        return self.outcome

    def _claim(
        self, metadata: JobMetadataHook, job_id: str, outcome: str, token: str
    ) -> dict[str, Any] | None:
        """Take the publish claim (None), or the claim of a try that published meanwhile.

        Another try holding a live claim is waited for (at most the lease): it either publishes, or dies and
        its claim goes stale, and then this try takes over.
        """
        from rdfox_pipeline.compat import AirflowSkipException

        lease = self.claim_lease_seconds
        deadline = time.monotonic() + lease + _CLAIM_POLL_SECONDS
        while not metadata.claim_notification(job_id, outcome, token, lease_seconds=lease):
            claim = metadata.require_job(job_id).get(NOTIFICATION_CLAIM_FIELD) or {}
            if claim.get("outcome") != outcome:
                raise AirflowSkipException(
                    f"job {job_id} is being announced as {claim.get('outcome')}; not announcing {outcome}"
                )
            if claim.get("state") == CLAIM_PUBLISHED:
                return dict(claim)
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"job {job_id}: another try has been publishing its {outcome} notification for longer "
                    f"than the claim lease ({lease:g} s) and its claim is still live"
                )
            self.log.info("Job %s: another try is publishing its %s notification; waiting", job_id, outcome)
            time.sleep(min(_CLAIM_POLL_SECONDS, lease / 4))
        return None

    def _record_publish_failure(
        self,
        metadata: JobMetadataHook,
        job_id: str,
        outcome: str,
        token: str,
        exc: Exception,
        secrets: list[str],
    ) -> None:
        """Keep the status (the job is not finished), say why nobody was told, free the claim for a retry."""
        from rdfox_pipeline.notifications.redact import redact

        reason = " ".join(redact(f"{type(exc).__name__}: {exc}", secrets).split())
        try:
            metadata.settle_notification_claim(
                job_id, outcome, token, CLAIM_FAILED, error=reason[:_MAX_FAILURE_REASON_CHARS]
            )
        except Exception:
            self.log.exception("Could not record the notification failure of job %s", job_id)

    def _finish(
        self, metadata: JobMetadataHook, job_id: str, outcome: str, published: Mapping[str, Any]
    ) -> str | None:
        """Record the finished status for a message that went out (by this try or an earlier one)."""
        from rdfox_pipeline.hooks.job_metadata import JobAlreadyFinished

        notification = {k: published.get(k) for k in ("subject", "message_id", "topic_arn", "outcome")}
        try:
            metadata.record_status(job_id, _FINAL_STATUS[outcome], notification=notification)
        except JobAlreadyFinished:
            self.log.info("Job %s: another try recorded the notification already", job_id)
        return notification["message_id"]

    def _set_fifo_ids(self, group: str, deduplication: str) -> None:
        """On a FIFO topic, SNS drops a second message with the same deduplication id (5 minutes)."""
        if str(self.target_arn).endswith(".fifo"):
            self.message_group_id = _fifo_id(group)
            self.message_deduplication_id = _fifo_id(deduplication)

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
        self._set_fifo_ids(f"{context['dag'].dag_id}.{run_id}", f"{context['dag'].dag_id}.{run_id}.failure")
        return super().execute(context)
