"""Test DAG: NeptuneBulkLoadOperator then the deferrable NeptuneLoadStatusSensor, as the pipeline chains them,
for three jobs side by side (``dag_run.conf``: ``{"jobs": {"good": id, "bad": id, "conflict": id}}``).

Run by tests with ``airflow dags test`` against the Neptune emulator (connection ``neptune_default``, or the
NEPTUNE_CLUSTER_ENDPOINT setting) and moto (``aws_default``); the "conflict" job's load uses the connection
``neptune_conflict``. No I/O at parse time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG
from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor

with DAG(dag_id="neptune_load_on_emulator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    for name in ("good", "bad", "conflict"):
        job_id = "{{ dag_run.conf['jobs']['" + name + "'] }}"
        start = NeptuneBulkLoadOperator(
            task_id=f"start_neptune_load_{name}", job_id=job_id, retries=1, retry_delay=timedelta(seconds=0),
            neptune_conn_id="neptune_conflict" if name == "conflict" else "neptune_default",
        )  # fmt: skip
        endpoint = "{{ ti.xcom_pull(task_ids='" + start.task_id + "', key='neptune_endpoint') }}"
        NeptuneLoadStatusSensor(
            task_id=f"wait_for_neptune_load_{name}", load_id=start.output, job_id=job_id, poke_interval=0.5,
            timeout=120, neptune_endpoint=endpoint,
        )  # fmt: skip
