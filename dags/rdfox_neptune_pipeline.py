"""rdfox_neptune_pipeline: one RDFox reasoning job, from its jobspec to Amazon Neptune, with a job record and
a notification at the end.

Parse-time rules (MWAA parses this file constantly): no I/O, nothing read from AWS, only light imports. The
only input read here is an environment variable (the SQS queue of the asset watcher); every setting is read
when a task runs.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG
from rdfox_pipeline.run_form import form_params

DAG_ID = "rdfox_neptune_pipeline"
POOL = "rdfox_pods"
# The SQS queue that the input bucket's "object created" notifications go to (see docs/s3-events.md). Read
# from the environment (no I/O); when unset, runs start only from the UI, the REST API or the CLI.
JOBSPEC_QUEUE_ENV = "RDFOX_PIPELINE_JOBSPEC_QUEUE_URL"
# How many runs (jobs) may be active at once; more wait as queued runs. Read at parse time (no I/O).
MAX_ACTIVE_RUNS_ENV = "RDFOX_PIPELINE_MAX_ACTIVE_RUNS"
DEFAULT_MAX_ACTIVE_RUNS = 8

DOC_MD = """
### RDFox -> Neptune pipeline

One run = one job. The jobspec comes from the trigger form's fields (dataset, cores, memory, ...), or whole
from the run's conf (`jobspec`, inline) or from an S3 location (`jobspec_uri`), never mixed with the fields.
Uploads of `<dataset>/<name>.rdfoxjob.json` to the input bucket (asset watcher on the bucket's SQS queue)
start an asset-triggered run that runs no job itself: it starts one run `upload__<key>__<digest>` per
uploaded jobspec, with its `jobspec_uri`.

| task | what | job status |
| --- | --- | --- |
| wait_for_jobspec | deferrable wait for the jobspec object (skipped when inline) | |
| register_job | validate the jobspec, allocate the job id | CREATED / SCHEDULE_FAILED |
| reason | the RDFox pod (prepare, rdfox, publish), pool `rdfox_pods` | SCHEDULED / INFERENCE_FAILED |
| parse_rdfox_log | deferrable wait for rdfox.log in S3, parse it | INFERENCE_COMPLETE / INFERENCE_FAILED |
| start_neptune_load | POST /loader on the job's `data/` prefix (idempotent) | NEPTUNE_LOAD_* |
| wait_for_neptune_load | deferrable poll of GET /loader/{loadId} | NEPTUNE_LOAD_COMPLETED / failure |
| notify | SNS success summary | SUCCESS_NOTIFICATION_SENT |
| notify_failure | SNS error summary when anything failed (loaded: success) | ERROR_NOTIFICATION_SENT |
| mark_run_failed | fails when anything failed, so that a failed job is a failed run | |
| fan_out_uploads, start_upload_runs | an asset-triggered run starts one run per uploaded jobspec | |

Job records: DynamoDB (JOB_TABLE_NAME); settings: SSM `/parameter/pipeline_control/`, then environment.
"""


def _max_active_runs() -> int:
    """``RDFOX_PIPELINE_MAX_ACTIVE_RUNS`` (1 to 64), default 8; anything else is an import error naming it."""
    text = os.environ.get(MAX_ACTIVE_RUNS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_ACTIVE_RUNS
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise ValueError(f"{MAX_ACTIVE_RUNS_ENV}: {text!r} is not a whole number from 1 to 64")
    return int(text)


def _schedule() -> list | None:
    """Asset-driven runs when the jobspec queue is configured; otherwise manual/API runs only."""
    queue_url = os.environ.get(JOBSPEC_QUEUE_ENV, "").strip()
    if not queue_url:
        return None
    # Imported only when used: the messaging provider initialises its queue registry at import.
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
    from airflow.sdk import Asset, AssetWatcher

    trigger = MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=queue_url,
        aws_conn_id="aws_default",
        max_messages=1,  # one S3 event per asset event, so that one upload makes one run
        wait_time_seconds=10,
        waiter_delay=5,
    )
    return [
        Asset(name="rdfox_jobspec_uploads", watchers=[AssetWatcher(name="jobspec_queue", trigger=trigger)])
    ]


SCHEDULE = _schedule()

with DAG(
    dag_id=DAG_ID,
    description="Run an RDFox reasoning job on Kubernetes and bulk-load its findings into Amazon Neptune",
    doc_md=DOC_MD,
    schedule=SCHEDULE,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    # Each run holds one pod slot at most (pool rdfox_pods) and otherwise only deferrals.
    max_active_runs=_max_active_runs(),
    max_active_tasks=16,
    tags=["rdfox", "neptune", "reasoning"],
    default_args={"owner": "rdfox-pipeline", "retries": 0, "retry_delay": timedelta(minutes=1)},
    # The trigger form: plain fields, then a whole jobspec in an advanced section (rdfox_pipeline/run_form.py)
    params=form_params(),
    render_template_as_native_obj=True,
) as dag:
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from rdfox_pipeline.operators.job_notification import JobNotificationOperator
    from rdfox_pipeline.operators.job_registration import JobspecKeySensor, RegisterJobOperator
    from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
    from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator
    from rdfox_pipeline.operators.run_outcome import MarkRunFailedOperator
    from rdfox_pipeline.operators.upload_fanout import UploadFanOutOperator
    from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor
    from rdfox_pipeline.sensors.rdfox_log import RdfoxLogSensor
    from rdfox_pipeline.task_docs import TASK_DOCS, apply_task_docs

    # Read-only waits retry (an S3 blip, or Airflow failing a deferred task that resumed quickly); what
    # writes or starts something retries only where it is idempotent.
    wait_for_jobspec = JobspecKeySensor(task_id="wait_for_jobspec", deferrable=True, retries=2)
    # A skipped wait (inline jobspec) must still let registration run; a failed wait must not.
    register_job = RegisterJobOperator(task_id="register_job", trigger_rule="none_failed", retries=2)
    registration = register_job.output
    reason = RdfoxPodOperator(
        task_id="reason",
        registration=registration,
        pool=POOL,
        # One retry, which only reattaches to the job's pod (Airflow 3.0-3.3 can fail a deferred task that
        # resumes quickly, apache/airflow#72716); after a real failure (INFERENCE_FAILED) the retry refuses to
        # rerun.
        retries=1,
        retry_delay=timedelta(seconds=20),
        execution_timeout=timedelta(hours=48),
    )
    # A log that does not parse fails at once (AirflowFailException: the log will not change); retries are
    # for reading it.
    parse_rdfox_log = RdfoxLogSensor(task_id="parse_rdfox_log", registration=registration, retries=2)
    start_neptune_load = NeptuneBulkLoadOperator(
        task_id="start_neptune_load",
        job_id="{{ ti.xcom_pull(task_ids='register_job')['job_id'] }}",
        retries=3,  # safe: the operator reuses the load already recorded for this job
        retry_delay=timedelta(seconds=30),
    )
    wait_for_neptune_load = NeptuneLoadStatusSensor(
        task_id="wait_for_neptune_load",
        load_id=start_neptune_load.output,
        job_id="{{ ti.xcom_pull(task_ids='register_job')['job_id'] }}",
        # Poll the endpoint the load was started on, not one resolved again.
        neptune_endpoint="{{ ti.xcom_pull(task_ids='start_neptune_load', key='neptune_endpoint') }}",
        retries=2,  # polling is read-only
    )
    # Retrying a notification is safe: a publish claim in the job record lets one try publish per outcome,
    # and a retry after "published, status not written" only records the status.
    notify = JobNotificationOperator(
        task_id="notify",
        outcome="success",
        job_id="{{ ti.xcom_pull(task_ids='register_job')['job_id'] }}",
        retries=2,
        retry_delay=timedelta(seconds=30),
    )
    notify_failure = JobNotificationOperator(
        task_id="notify_failure",
        outcome="failure",
        # The job id: from register_job's XCom, or from the failed_job_id it pushed when the jobspec was
        # invalid; None when no job could be registered at all (the operator still notifies).
        job_id=(
            "{{ (ti.xcom_pull(task_ids='register_job') or {}).get('job_id') "
            "or ti.xcom_pull(task_ids='register_job', key='failed_job_id') }}"
        ),
        trigger_rule="one_failed",
        retries=2,
        retry_delay=timedelta(seconds=30),
    )

    (
        wait_for_jobspec
        >> register_job
        >> reason
        >> parse_rdfox_log
        >> start_neptune_load
        >> wait_for_neptune_load
        >> notify
    )
    job_tasks = [
        wait_for_jobspec,
        register_job,
        reason,
        parse_rdfox_log,
        start_neptune_load,
        wait_for_neptune_load,
        notify,
    ]
    from rdfox_pipeline.operators.failure_record import add_failure_recording

    for job_task in job_tasks[:-1]:
        # A job task failing for good records the failure and its exception on the job (exactly once;
        # notify_failure records what no callback saw). notify: a loaded job is announced as succeeded.
        add_failure_recording(job_task)
    # A failed jobspec wait reaches notify_failure through register_job (upstream_failed).
    job_tasks[1:] >> notify_failure
    # notify_failure succeeding would make the run green: this second leaf makes a failed job a failed run.
    job_tasks >> MarkRunFailedOperator(task_id="mark_run_failed")

    # An asset-triggered run starts one run per upload (its job tasks skip): Airflow batches uploads into
    # such runs unpredictably (a burst, events queued at max_active_runs). Apart from the job's tasks: a
    # failure here fails the run (a leaf) and nothing else.
    fan_out_uploads = UploadFanOutOperator(task_id="fan_out_uploads", retries=2, inlets=list(SCHEDULE or ()))
    TriggerDagRunOperator.partial(
        task_id="start_upload_runs",
        trigger_dag_id=DAG_ID,
        logical_date=None,  # runs started together must not share a logical date
        skip_when_already_exists=True,  # the run id names the upload: a retry starts nothing twice
        retries=2,
        retry_delay=timedelta(seconds=30),
        doc_md=TASK_DOCS["start_upload_runs"].strip(),  # a mapped task's doc is set here, not afterwards
    ).expand_kwargs(fan_out_uploads.output)

    apply_task_docs(dag)  # each task's doc_md (rdfox_pipeline/task_docs.py)
