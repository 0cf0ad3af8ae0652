"""Operator extra links (rdfox_pipeline.links): the URLs they render, and the way Airflow stores them.

In Airflow 3 the worker renders each link when a task ends and stores the URL in XCom; the API server reads
it back. The Neptune links are checked through that real path: ``airflow dags test`` runs a load and its
sensor against the Neptune emulator and moto, and the test reads the stored links as the API server does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes.client import models as k8s
from rdfox_pipeline.links import (
    ALL_LINKS,
    JobOutputsLink,
    NeptuneLoadStatusLink,
    RdfoxLogLink,
    RdfoxPodLink,
    eks_pod_console_url,
    neptune_load_status_url,
    s3_console_url,
    s3_object_console_url,
    split_s3_uri,
)
from rdfox_pipeline.triggers.resume_floor import RESUME_FLOOR_ENV

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN, neptune_conn_json

pytestmark = pytest.mark.compat  # also run under MWAA's Airflow (make test-compat)

NT = "<http://a/s> <http://a/p> <http://a/o> .\n"
JOBSPEC = {"dataset": "LINKS", "resources": {"cores": 1, "memory": "1Gi"}}


def test_url_builders() -> None:
    assert split_s3_uri("s3://out/DS/DS_1/") == ("out", "DS/DS_1/")
    with pytest.raises(ValueError, match="not an s3:// URI"):
        split_s3_uri("https://out/DS/")
    with pytest.raises(ValueError, match="not an s3:// URI"):
        split_s3_uri("s3:///DS/")
    assert (
        s3_console_url("s3://out/DS/DS_2024-01-01_001/", "eu-west-2")
        == "https://console.aws.amazon.com/s3/buckets/out?region=eu-west-2&prefix=DS%2FDS_2024-01-01_001%2F"
    )
    assert s3_console_url("s3://out") == "https://console.aws.amazon.com/s3/buckets/out"
    assert (
        s3_object_console_url("s3://out/DS/DS_1/rdfox.log", "eu-west-2")
        == "https://console.aws.amazon.com/s3/object/out?region=eu-west-2&prefix=DS%2FDS_1%2Frdfox.log"
    )
    with pytest.raises(ValueError, match="not an object's"):
        s3_object_console_url("s3://out/DS/")
    assert (
        neptune_load_status_url("https://db.cluster-x.eu-west-2.neptune.amazonaws.com:8182/", "a b/c")
        == "https://db.cluster-x.eu-west-2.neptune.amazonaws.com:8182/loader/a%20b%2Fc?details=true&errors=true"
    )
    assert (
        eks_pod_console_url("eu-west-2", "prod", "rdfox", "rdfox-ds-1")
        == "https://console.aws.amazon.com/eks/home?region=eu-west-2#/clusters/prod/pods/rdfox/rdfox-ds-1"
    )


def test_links_are_attached_and_registered() -> None:
    from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
    from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator
    from rdfox_pipeline.plugin import RdfoxPipelinePlugin
    from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor

    def names(cls: Any) -> set[str]:
        return {link.name for link in cls.operator_extra_links}

    from rdfox_pipeline.sensors.rdfox_log import RdfoxLogSensor

    assert names(RdfoxPodOperator) == {JobOutputsLink.name, RdfoxLogLink.name, RdfoxPodLink.name}
    assert names(RdfoxLogSensor) == {RdfoxLogLink.name, JobOutputsLink.name}
    assert names(NeptuneBulkLoadOperator) == {NeptuneLoadStatusLink.name}
    assert names(NeptuneLoadStatusSensor) == {NeptuneLoadStatusLink.name}
    assert {link.name for link in RdfoxPipelinePlugin.operator_extra_links} == {
        link.name for link in ALL_LINKS
    }
    # Distinct XCom keys: each link's URL is stored under its own key.
    assert len({link.xcom_key for link in ALL_LINKS}) == len(ALL_LINKS)


def _pod_operator(registration: dict[str, Any]) -> Any:
    from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator

    return RdfoxPodOperator(task_id="reason", registration=registration, aws_conn_id="aws_default")


def test_pod_operator_links_from_its_registration_pod_and_settings(
    aws_default_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    _clear_ssm_settings()
    monkeypatch.setenv("CLUSTER_NAME", "prod-eks")
    clear_settings_cache()
    registration = {
        "job_id": "LINKS_2024-01-01_001",
        "jobspec": JOBSPEC,
        "output_prefix": "s3://out/LINKS/x/",
        "rdfox_log_uri": "s3://out/LINKS/x/rdfox.log",
    }
    operator = _pod_operator(registration)
    assert RdfoxLogLink().get_link(operator, ti_key=None) == (
        "https://console.aws.amazon.com/s3/object/out?region=eu-west-2&prefix=LINKS%2Fx%2Frdfox.log"
    )
    # Before the pod exists (e.g. registration failed): outputs known, no pod link (a greyed-out button).
    assert JobOutputsLink().get_link(operator, ti_key=None) == (
        "https://console.aws.amazon.com/s3/buckets/out?region=eu-west-2&prefix=LINKS%2Fx%2F"
    )
    assert RdfoxPodLink().get_link(operator, ti_key=None) == ""
    # As execute leaves it: the pod the operator created.
    operator.pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="rdfox-links-1", namespace="rdfox"))
    assert RdfoxPodLink().get_link(operator, ti_key=None) == (
        "https://console.aws.amazon.com/eks/home?region=eu-west-2#/clusters/prod-eks/pods/rdfox/rdfox-links-1"
    )
    # The plain Kubernetes route (no CLUSTER_NAME) has no console: no link rather than a wrong one.
    monkeypatch.delenv("CLUSTER_NAME")
    clear_settings_cache()
    plain = _pod_operator(registration)
    plain.pod = operator.pod
    assert RdfoxPodLink().get_link(plain, ti_key=None) == ""
    # A registration without outputs (a failed registration) renders nothing instead of failing the task.
    assert JobOutputsLink().get_link(_pod_operator({"job_id": "x", "jobspec": JOBSPEC}), ti_key=None) == ""
    assert RdfoxLogLink().get_link(_pod_operator({"job_id": "x", "jobspec": JOBSPEC}), ti_key=None) == ""


def _clear_ssm_settings() -> None:
    """Settings other tests left in this worker's moto SSM would win over the environment."""
    from rdfox_pipeline.domain.settings import SSM_PATH

    ssm = boto3.client("ssm", region_name=TEST_REGION)
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=SSM_PATH, Recursive=True)
    names = [p["Name"] for page in pages for p in page["Parameters"]]
    for start in range(0, len(names), 10):
        ssm.delete_parameters(Names=names[start : start + 10])


DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator
from rdfox_pipeline.sensors.neptune_load_status import NeptuneLoadStatusSensor

with DAG("links_check", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    start = NeptuneBulkLoadOperator(
        task_id="start_neptune_load", job_id={job_id!r}, output_bucket={bucket!r},
        iam_role_arn={role!r}, region={region!r},
    )
    NeptuneLoadStatusSensor(
        task_id="wait_for_neptune_load", load_id=start.output, job_id={job_id!r},
        deferrable=False, poke_interval=0.5, timeout=60,
    )
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_neptune_links_are_stored_by_a_real_task_run(
    airflow_db: Path,
    aws_default_connection: str,
    neptune_emulator: Any,
    s3_source: Any,
    tmp_path: Path,
) -> None:
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    _clear_ssm_settings()
    table = f"links-{uuid.uuid4().hex[:8]}"
    os.environ["JOB_TABLE_NAME"] = table
    clear_settings_cache()
    try:
        hook = JobMetadataHook(aws_conn_id=None, table_name=table)
        hook.create_table_if_missing()
        job_id = hook.allocate_job("LINKS", jobspec=JOBSPEC)
    finally:
        del os.environ["JOB_TABLE_NAME"]
        clear_settings_cache()
    source = s3_source({"a.nt": NT}, prefix=f"LINKS/{job_id}/data/")
    bucket = source[len("s3://") :].split("/", 1)[0]

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "links_check.py").write_text(
        textwrap.dedent(DAG_FILE).format(job_id=job_id, bucket=bucket, role=TEST_ROLE_ARN, region=TEST_REGION)
    )
    conn = neptune_conn_json(neptune_emulator)
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW_CONN_NEPTUNE_DEFAULT": conn,
        "JOB_TABLE_NAME": table,
        RESUME_FLOOR_ENV: "0",  # `dags test` runs triggers inline: no scheduler to race
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    run = subprocess.run(
        [airflow, "dags", "test", "links_check"], env=env, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    # What a deployment's DAG processor does: store the serialized DAG (Airflow 3.0's `dags test` does not).
    reserialize = subprocess.run(
        [airflow, "dags", "reserialize"], env=env, capture_output=True, text=True, timeout=240
    )
    assert reserialize.returncode == 0, (reserialize.stdout + reserialize.stderr)[-4000:]

    stored = _stored_links("links_check")
    load_id = stored[("start_neptune_load", "return_value")]
    assert isinstance(load_id, str) and load_id
    base = f"http://127.0.0.1:{neptune_emulator.port}"
    expected = f"{base}/loader/{load_id}?details=true&errors=true"
    key = NeptuneLoadStatusLink().xcom_key
    assert stored[("start_neptune_load", key)] == expected  # from the operator's own XCom (the load id)
    assert stored[("wait_for_neptune_load", key)] == expected  # from the sensor's rendered load_id
    # And the URL it stores answers: the emulator's status of that very load.
    import urllib.request

    with urllib.request.urlopen(expected, timeout=10) as response:
        payload = json.loads(response.read())["payload"]
    assert payload["overallStatus"]["status"] == "LOAD_COMPLETED"

    # The API server's side: the serialized DAG names the link, read back from XCom by key.
    from rdfox_pipeline.compat import xcom_operator_link_class

    XComOperatorLink = xcom_operator_link_class()
    serialized = _serialized_task_links("links_check", "wait_for_neptune_load")
    assert serialized == {NeptuneLoadStatusLink.name: key}
    ti_key = _ti_key("links_check", "wait_for_neptune_load")
    assert XComOperatorLink(name=NeptuneLoadStatusLink.name, xcom_key=key).get_link(None, ti_key=ti_key) == (
        expected
    )


def _stored_links(dag_id: str) -> dict[tuple[str, str], Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel.task_id, XComModel.key, XComModel.value).filter_by(dag_id=dag_id).all()
    return {(task, key): _decoded(value) for task, key, value in rows}


def _decoded(value: Any) -> Any:
    # XCom's value column is JSON: a string may come back decoded already, or still as its JSON text.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _serialized_task_links(dag_id: str, task_id: str) -> dict[str, str]:
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.query(SerializedDagModel).filter_by(dag_id=dag_id).first()
        data = model.data
    tasks = data["dag"]["tasks"]
    for task in tasks:
        body = task.get("__var", task)
        if body.get("task_id") == task_id:
            return dict(body.get("_operator_extra_links") or {})
    raise AssertionError(f"no task {task_id} in the serialized DAG")


def _ti_key(dag_id: str, task_id: str) -> Any:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id).one()
        return TaskInstanceKey(dag_id, task_id, ti.run_id, ti.try_number, ti.map_index)
