"""Test DAG: NeptuneBulkLoadOperator then the deferrable NeptuneLoadStatusSensor, as the pipeline chains them,
for two jobs side by side (``dag_run.conf``: ``{"jobs": {"good": job_id, "bad": job_id}}``).

Run by tests with ``airflow dags test`` against the Neptune emulator (connection ``neptune_default``) and
moto (``aws_default``). No I/O at parse time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG
from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor

with DAG(dag_id="neptune_load_on_emulator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    for name in ("good", "bad"):
        job_id = "{{ dag_run.conf['jobs']['" + name + "'] }}"
        start = NeptuneBulkLoadOperator(
            task_id=f"start_neptune_load_{name}", job_id=job_id, retries=1, retry_delay=timedelta(seconds=0)
        )
        NeptuneLoadStatusSensor(
            task_id=f"wait_for_neptune_load_{name}", load_id=start.output, job_id=job_id, poke_interval=0.5,
            timeout=120,
        )  # fmt: skip
