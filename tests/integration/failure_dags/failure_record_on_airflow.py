"""Test DAGs: a job task fails under Airflow's own task runner, then notify_failure runs (trigger rule
one_failed), as in the pipeline. ``failure_callback_on_airflow``: ``reason`` has the pipeline's failure
callback. ``failure_backstop_on_airflow``: it has none, as when a person marks the task failed or the
scheduler fails it, so only notify_failure can record it. The job id comes from the run's conf."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from rdfox_pipeline.operators.failure_record import add_failure_recording
from rdfox_pipeline.operators.job_notification import JobNotificationOperator


def _register(**context: Any) -> dict[str, Any]:
    return {"job_id": context["dag_run"].conf["job_id"]}


def _reason() -> None:
    raise ValueError("pod watch lost: the API server answered 500")


for dag_id, with_callback in (("failure_callback_on_airflow", True), ("failure_backstop_on_airflow", False)):
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        register_job = PythonOperator(task_id="register_job", python_callable=_register)
        reason = PythonOperator(task_id="reason", python_callable=_reason, retries=0)
        if with_callback:
            add_failure_recording(reason)
        notify_failure = JobNotificationOperator(
            task_id="notify_failure",
            outcome="failure",
            job_id="{{ ti.xcom_pull(task_ids='register_job')['job_id'] }}",
            trigger_rule="one_failed",
        )
        register_job >> reason >> notify_failure
    globals()[dag_id] = dag
