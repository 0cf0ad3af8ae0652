"""The tasks' ``doc_md``: what each task of ``rdfox_neptune_pipeline`` does, records, and where to look when
it fails. Shown in the UI on the task's page ("Task Instance Details" > docs).

Kept apart from the DAG file so the DAG stays short: ``apply_task_docs(dag)`` at the end of the DAG's
``with`` block attaches them (plain strings: no I/O at parse time).
"""

from __future__ import annotations

from typing import Any

TASK_DOCS: dict[str, str] = {
    "wait_for_jobspec": """
**Wait for the jobspec** (deferrable S3 key wait). Skipped when the run's conf carries the jobspec inline.
Waits for `jobspec_uri` (`s3://bucket/key`, or a key in the `INPUT_BUCKET` setting's bucket).

Fails when: the object does not appear before the timeout, or the location is not an S3 URI.
""",
    "register_job": """
**Register the job**: validate the jobspec, allocate the job id `<dataset>_<date>_<n>` in the job table.
Job record: `CREATED`, or `SCHEDULE_FAILED` with the validation error (nothing else starts then).
Retried (twice): one run gets one job id whatever its tries; an invalid jobspec fails at once. Also marks the
dataset's orphans (CREATED for over a week: their run's registration died) `SCHEDULE_FAILED` with the reason.
XCom: the registration (`job_id`, `dataset`, normalised `jobspec`, `output_prefix`, `rdfox_log_uri`).
""",
    "reason": """
**Run RDFox** in a Kubernetes pod: `prepare` downloads the dataset and writes the RDFox script, `rdfox`
reasons, `publish` uploads `data/` and `rdfox.log` under the job's output prefix. Pool `rdfox_pods`.
Job record: `SCHEDULED` (pod name, worker node type), `INFERENCE_FAILED` with the pod's reason. An error that
is not the pod's (before it exists, a record write) keeps the status and is retried once.

Extra links: **Job outputs (S3)**, **rdfox.log (S3)**, **RDFox pod (EKS)** (EKS route only). Failed pods are
kept for diagnosis.
""",
    "parse_rdfox_log": """
**Read rdfox.log** (deferrable wait for it in S3), parse it: facts, rules, timings, query counts.
Job record: `INFERENCE_COMPLETE` with the statistics, or `INFERENCE_FAILED` with what the log says.

Extra links: **rdfox.log (S3)**, **Job outputs (S3)**.
""",
    "start_neptune_load": """
**Start the Neptune bulk load** of the job's `data/` prefix (POST /loader). Idempotent: a retry reuses the
load already recorded on the job (or found on Neptune) instead of starting a second one.
Job record: `NEPTUNE_LOAD_*` with `neptune_load_id`. XCom: the load id. A 4xx from Neptune (but 401, 403,
408, 429) or a missing setting (`NEPTUNE_IAM_ROLE_ARN`, region, source) fails at once, without retries.

Extra link: **Neptune load status**.
""",
    "wait_for_neptune_load": """
**Wait for the Neptune load** (deferrable poll of GET /loader/{loadId}).
Job record: `NEPTUNE_LOAD_COMPLETED` with the load statistics, or the loader's failure status with its errors.

Extra link: **Neptune load status**.
""",
    "notify": """
**Notify success**: claim the job's notification in its record, publish the job's summary to the
`BULKLOAD_TOPIC` SNS topic, then record `SUCCESS_NOTIFICATION_SENT`. A retry (or a concurrent try) never
publishes what was published; on a FIFO topic SNS deduplicates on job id + outcome.

The run's summary: **Rendered Templates > job_summary** (job id, status, inferred and loaded triples, load id,
output prefix), written when the task ends.
""",
    "notify_failure": """
**Notify failure** (runs when any task failed): publish the job's error summary to the SNS topic and
record `ERROR_NOTIFICATION_SENT`. A job whose data loaded (only `notify` failed) gets its success summary
instead, once. Also runs when no job could be registered. A failure no task recorded (a task marked failed,
a lost worker) is recorded first: the failed task and the status it failed in.

The run's summary, with the error reason: **Rendered Templates > job_summary**.
""",
    "mark_run_failed": """
**Mark the run failed** (runs when any task of the job failed, skipped otherwise): fails on purpose, so that
a failed job is a failed run in the UI and the REST API although `notify_failure` succeeded.
Job record: unchanged (`error_reason` says why the job failed).
""",
    "fan_out_uploads": """
**List the uploads** of an asset-triggered run (one per S3 upload of a jobspec to the input bucket, as
Airflow batched them): this run's asset events and any newer event of the asset, oldest first, less those
whose run exists. Such a run runs no job itself (`wait_for_jobspec`, `register_job` and what follows skip).
Returns `[]` for UI, REST and CLI runs. Job record: none (each upload's own run registers its job).
""",
    "start_upload_runs": """
**Start one run per upload** (mapped, one task per upload; no task when there is none): conf
`{"jobspec_uri": "s3://..."}`, run id `upload__<key>__<digest>` naming the upload (bucket, key, S3
sequencer), so a retry or a second sighting starts nothing twice (skipped when the run exists). The runs
are queued and obey `max_active_runs`. A failure here fails this run: start the upload's run by hand with
its `jobspec_uri`.
""",
}


def apply_task_docs(dag: Any) -> None:
    """Attach ``TASK_DOCS`` to the DAG's tasks (a task that has its own ``doc_md`` keeps it)."""
    for task in dag.tasks:
        if not getattr(task, "doc_md", None) and task.task_id in TASK_DOCS:
            task.doc_md = TASK_DOCS[task.task_id].strip()
