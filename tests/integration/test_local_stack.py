"""`rdfox-pipeline local up|status|down`: real background servers, idempotent, and nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest
from rdfox_local.stack.processes import is_running
from rdfox_local.stack.stack import ACCESS_KEY, REGION, SECRET_KEY, LocalStack

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("rdfox-pipeline")), "local", *args],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )  # fmt: skip


def test_up_is_idempotent_provisions_and_down_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    stack = LocalStack(state_dir)
    try:
        first = stack.up(airflow_db=False, log=lambda _m: None)
        pids = {name: s.pid for name, s in first.servers.items()}
        assert set(pids) == {"moto", "neptune", "kubernetes"}
        # A second `up` reuses what runs.
        second = stack.up(airflow_db=False, log=lambda _m: None)
        assert {name: s.pid for name, s in second.servers.items()} == pids

        status = _cli("status", "--state-dir", str(state_dir))
        assert status.returncode == 0, status.stderr
        reported = json.loads(status.stdout)
        assert reported["up"] is True
        assert {n: s["pid"] for n, s in reported["servers"].items()} == pids

        resources = second.resources
        moto = second.servers["moto"].url
        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        )
        s3 = session.client("s3", endpoint_url=moto)
        assert {resources["input_bucket"], resources["output_bucket"]} <= {
            b["Name"] for b in s3.list_buckets()["Buckets"]
        }
        ssm = session.client("ssm", endpoint_url=moto)
        parameters = ssm.get_parameters_by_path(Path="/parameter/pipeline_control/")["Parameters"]
        names = {p["Name"] for p in parameters}
        assert "/parameter/pipeline_control/JOB_TABLE_NAME" in names
        # Configuring the bucket's notifications made S3 send a test event; it must not start a run.
        sqs = session.client("sqs", endpoint_url=moto)
        waiting = sqs.receive_message(QueueUrl=resources["jobspec_queue_url"], WaitTimeSeconds=0)
        assert not waiting.get("Messages"), waiting
        # An upload of a jobspec does reach the watcher's queue.
        s3.put_object(Bucket=resources["input_bucket"], Key="DS/one.rdfoxjob.json", Body=b"{}")
        s3.put_object(Bucket=resources["input_bucket"], Key="DS/data.nt", Body=b"")
        got = sqs.receive_message(QueueUrl=resources["jobspec_queue_url"], WaitTimeSeconds=2)["Messages"]
        # Keys arrive URL-encoded (moto encodes "/" too); the pipeline decodes them the same way.
        keys = [unquote_plus(r["s3"]["object"]["key"]) for m in got for r in json.loads(m["Body"])["Records"]]
        assert keys == ["DS/one.rdfoxjob.json"]

        env_file = (state_dir / "airflow.env").read_text()
        assert "AIRFLOW_CONN_AWS_DEFAULT=" in env_file and "RDFOX_PIPELINE_JOBSPEC_QUEUE_URL=" in env_file
        assert oct((state_dir / "airflow.env").stat().st_mode & 0o777) == "0o600"
    finally:
        down = _cli("down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert sorted(line.split()[-1] for line in down.stdout.splitlines()) == ["kubernetes", "moto", "neptune"]
    assert not any(is_running(s) for s in first.servers.values())
    again = _cli("status", "--state-dir", str(state_dir))
    assert again.returncode == 1 and json.loads(again.stdout)["up"] is False
