"""Issue 13, scenario 6, under Airflow's own task runner (``airflow dags test``): the failure callback gets
the task's exception in ``context["exception"]``, and notify_failure reads the run's task states through
the Execution API (``ti.get_task_states``) to record a failure no callback saw. Job table and SNS on moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

DAGS = Path(__file__).parent / "failure_dags"
pytestmark = [pytest.mark.compat, pytest.mark.slow, pytest.mark.timeout(600)]


def _dags_test(dag_id: str, job_id: str, env: dict[str, str]) -> str:
    airflow = str(Path(sys.executable).with_name("airflow"))
    result = subprocess.run(
        [airflow, "dags", "test", dag_id, "-c", json.dumps({"job_id": job_id})],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_callback_and_backstop_under_airflow(
    airflow_db: Path, aws_default_connection: str, isolated_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = f"jobs-{uuid.uuid4().hex[:10]}"
    topic = boto3.client("sns").create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    monkeypatch.setenv("JOB_TABLE_NAME", table)
    hook = JobMetadataHook(aws_conn_id="aws_default", table_name=table)
    hook.create_table_if_missing()
    jobs = {}
    for name in ("callback", "backstop"):
        jobs[name] = hook.allocate_job("FAILAIRFLOW")
        hook.record_status(jobs[name], "SCHEDULED")
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "BULKLOAD_TOPIC": topic}
    outputs = {name: _dags_test(f"failure_{name}_on_airflow", job_id, env) for name, job_id in jobs.items()}

    callback = hook.require_job(jobs["callback"])
    assert callback["job_status"] == "ERROR_NOTIFICATION_SENT", outputs["callback"][-4000:]
    with_exception = "reason failed while SCHEDULED: ValueError: pod watch lost: the API server answered 500"
    from rdfox_pipeline.compat import AIRFLOW_V_3_3_PLUS

    if AIRFLOW_V_3_3_PLUS:
        assert callback["error_reason"] == with_exception
    else:
        # Airflow 3.0's in-process runner (`airflow dags test`) calls the callback without
        # context["exception"] (its worker's task runner sets it); the failure is still recorded once,
        # by the callback or the backstop.
        assert callback["error_reason"] in (with_exception,) or callback["error_reason"].startswith(
            "reason failed while SCHEDULED: no error reached the job record"
        ), callback["error_reason"]
    backstop = hook.require_job(jobs["backstop"])
    assert backstop["job_status"] == "ERROR_NOTIFICATION_SENT", outputs["backstop"][-4000:]
    assert backstop["error_reason"].startswith(
        "reason failed while SCHEDULED: no error reached the job record"
    ), outputs["backstop"][-4000:]
