"""Faults under a real Airflow (api-server, dag-processor, scheduler with LocalExecutor, triggerer as separate
processes) on the local stack: what ``airflow dags test`` cannot show, because it runs triggers in-process.

One batch of runs, started together so that the module costs about one job's time:

* ``ok``: a good job, during which the triggerer is killed (SIGKILL) and restarted twice: while the pod is
  awaited and while the Neptune load is awaited. It must still succeed with one pod and one load.
* ``prepare_fails``: the pod's prepare step exits 3.           -> INFERENCE_FAILED, no load.
* ``oom``: the job asks for 16Mi; the pod goes over it.       -> INFERENCE_FAILED (OOMKilled), no load.
* ``nolog``: the rdfox step exits 0 but writes no rdfox.log.   -> INFERENCE_FAILED naming rdfox.log, no load.
* ``s3down``: S3 is unreachable from the publish step.         -> INFERENCE_FAILED naming the upload, no
  outputs in S3, no load.

Every run ends with its record finished (SUCCESS_/ERROR_NOTIFICATION_SENT), exactly one notification, one
pod, and S3 holding what the record says. The runs use known secret values (AWS secret key and session token,
the RDFox password, a license text): the last test looks for them in every task log, XCom, job record and
SNS message of the batch.
"""

from __future__ import annotations

import json
import secrets
import signal
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rdfox_pipeline.pod.manifest import LABEL_JOB_ID
from rdfox_pipeline.pod.names import label_value

from bench._airflow_services import AirflowServices, faulty_stack
from tests.k8s_audit import pods_created_for

# The batch runs in the first test's setup: its timeout covers stack, services and five runs on a busy box.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

DATASET = "LIVEFAULTS"
POD_SECONDS = 12  # the prepare step's extra time: the pod is awaited long enough to restart the triggerer
LOAD_SECONDS = 12  # Neptune emulator throttle: the load is awaited long enough too
FAULTS = {
    "prepare_fails": {"images": {"prepare": "rdfox-pipeline/prepare:fail-1"}},
    "oom": {"resources": {"cores": 1, "memory": "16Mi"}},
    "nolog": {"images": {"rdfox": "docker.io/oxfordsemantic/rdfox:nolog-1"}},
    "s3down": {"images": {"publish": "rdfox-pipeline/publish:s3down-1"}},
}


@dataclass
class Batch:
    stack: Any
    services: AirflowServices
    demo: Any
    secrets: dict[str, str]
    run_ids: dict[str, str] = field(default_factory=dict)
    runs: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)

    def http_json(self, server: str, path: str, body: Any = None) -> Any:
        url = self.stack.state().servers[server].url + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def pods_of(self, job_id: str) -> list[dict[str, Any]]:
        """The job's pods that still exist (a succeeded pod is deleted, a failed one kept)."""
        items = self.http_json("kubernetes", "/api/v1/pods").get("items", [])
        label = label_value(job_id)
        return [p for p in items if (p["metadata"].get("labels") or {}).get(LABEL_JOB_ID) == label]

    def pods_created_for(self, job_id: str) -> list[str]:
        return pods_created_for(self.stack.k8s_dir, job_id)

    def pod_log(self, pod: dict[str, Any], container: str) -> str:
        meta = pod["metadata"]
        url = self.stack.state().servers["kubernetes"].url
        url += f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/log?container={container}"
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read().decode(errors="replace")

    def loads_of(self, job_id: str) -> list[str]:
        ids = self.http_json("neptune", "/loader?limit=100")["payload"]["loadIds"]
        out = []
        for load_id in ids:
            status = self.http_json("neptune", f"/_emulator/loads/{load_id}")
            if job_id in str(status["overallStatus"].get("fullUri", "")):
                out.append(load_id)
        return out

    def s3_keys(self, job_id: str) -> list[str]:
        bucket = self.demo.resources["output_bucket"]
        pages = self.demo.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{DATASET}/{job_id}/"
        )
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def job_of(self, name: str) -> dict[str, Any]:
        return self.records[name]

    def messages_of(self, job_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if _attributes(m).get("job_id") == job_id]


def _attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v.get("Value") for k, v in (message.get("MessageAttributes") or {}).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    from rdfox_local.stack.demo import Demo

    state_dir = tmp_path_factory.mktemp("live-stack")
    known = {
        "aws_secret_access_key": "AWSSECRET" + secrets.token_hex(12),
        "aws_session_token": "AWSTOKEN" + secrets.token_hex(24),
        "rdfox_license": "RDFOXLICENSE-" + secrets.token_hex(16) + "\nLicensee: rdfox-pipeline tests\n",
    }
    stack = faulty_stack(state_dir, pod_seconds=POD_SECONDS, license_text=known["rdfox_license"])
    state = stack.up(log=lambda _m: None)
    services = None
    try:
        known["rdfox_password"] = (stack.k8s_dir / "secrets" / "rdfox-password" / "password").read_text()
        # 300 transactions: small, yet chains are found (40 would give empty outputs and a load of 0 records).
        demo = Demo(stack, state, transactions=300, log=lambda _m: None)
        data_dir = state_dir / "generated"
        data_dir.mkdir()
        for path in demo.generate(data_dir) + demo.sample_files():
            demo.s3.upload_file(str(path), demo.resources["input_bucket"], f"{DATASET}/{path.name}")
        moto = state.servers["moto"].url
        aws_conn = {
            "conn_type": "aws",
            "login": "testing",
            "password": known["aws_secret_access_key"],
            "extra": {
                "endpoint_url": moto,
                "region_name": "eu-west-2",
                "aws_session_token": known["aws_session_token"],
            },
        }
        services = AirflowServices(
            stack,
            parallelism=4,
            extra_env={
                "AWS_SECRET_ACCESS_KEY": known["aws_secret_access_key"],
                "AWS_SESSION_TOKEN": known["aws_session_token"],
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_conn),
                "RDFOX_PIPELINE_JOBSPEC_QUEUE_URL": "",  # runs only from this test, not from the S3 queue
                # The fault images are closed jobspec fields: the operator opens them, each value exactly.
                "JOBSPEC_ALLOWED_FIELDS": json.dumps(
                    {
                        f"images.{step}": [spec["images"][step]]
                        for spec in FAULTS.values()
                        for step in spec.get("images", {})
                    }
                ),
            },
        )
        services.start()
        b = Batch(stack, services, demo, known)
        _run_batch(b)
        yield b
    finally:
        if services is not None:
            services.stop()
        stack.down(log=lambda _m: None)


def _jobspec(b: Batch, **extra: Any) -> dict[str, Any]:
    return {
        "dataset": DATASET,
        "job_bucket": b.demo.resources["input_bucket"],
        "output_bucket": b.demo.resources["output_bucket"],
        "resources": {"cores": 1, "memory": "1Gi"},
        **extra,
    }


def _run_batch(b: Batch) -> None:
    b.http_json("neptune", "/_emulator/throttle", {"seconds": LOAD_SECONDS})
    names = ["ok", *FAULTS]
    confs = [{"jobspec": _jobspec(b)}] + [{"jobspec": _jobspec(b, **FAULTS[n])} for n in FAULTS]
    b.run_ids = dict(zip(names, b.services.trigger(confs, prefix="fault"), strict=True))
    ok = b.run_ids["ok"]
    # The pod is awaited (the task deferred to the triggerer): kill the triggerer, start a new one.
    b.services.wait_task_state(ok, "reason", ["deferred"], timeout=300)
    b.services.restart("triggerer", signal.SIGKILL)
    b.restarts.append("reason")
    b.services.wait_task_state(ok, "wait_for_neptune_load", ["deferred"], timeout=600)
    b.services.restart("triggerer", signal.SIGKILL)
    b.restarts.append("wait_for_neptune_load")
    runs = b.services.wait_runs(list(b.run_ids.values()), timeout=900)
    b.runs = {name: runs[run_id] for name, run_id in b.run_ids.items()}
    by_run = {str(r.get("dag_run_id")): _plain(r) for r in b.demo.job_records(DATASET).values()}
    b.records = {name: by_run.get(run_id, {}) for name, run_id in b.run_ids.items()}
    b.messages = b.demo.notifications(wait_seconds=5)


def test_triggerer_restarted_while_pod_and_load_awaited(batch: Batch) -> None:
    assert batch.restarts == ["reason", "wait_for_neptune_load"]
    run = batch.runs["ok"]
    states = batch.services.task_states(batch.run_ids["ok"])
    assert run.state == "success", states
    record = batch.job_of("ok")
    job_id = record["job_id"]
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT"
    # One pod, one load, and the record names exactly those.
    # One pod was created, the record names it, and it was deleted once it had succeeded.
    assert batch.pods_created_for(job_id) == [record["pod_name"]]
    assert batch.pods_of(job_id) == []
    assert batch.loads_of(job_id) == [record["neptune_load_id"]]
    # Each awaited task ran once (resumed from its trigger, not retried).
    for task in ("reason", "wait_for_neptune_load", "start_neptune_load"):
        assert batch.services.task_tries(batch.run_ids["ok"], task) == 1, task
    keys = batch.s3_keys(job_id)
    assert f"{DATASET}/{job_id}/rdfox.log" in keys
    assert any(k.startswith(f"{DATASET}/{job_id}/data/") for k in keys)
    assert record["rdfox_log_uri"].endswith(f"{job_id}/rdfox.log")
    assert record["neptune_stats"]["total_records"] > 0
    assert len(batch.messages_of(job_id)) == 1


@pytest.mark.parametrize(
    ("name", "reason_contains", "publish_log_contains"),
    [
        ("prepare_fails", "container prepare exited with status 3", None),
        ("oom", "OOMKilled", None),
        ("nolog", "rdfox.log: missing", "rdfox.log is missing"),
        ("s3down", "rdfox.log: missing", "upload"),
    ],
)
def test_pod_fault_fails_the_job_cleanly(
    batch: Batch, name: str, reason_contains: str, publish_log_contains: str | None
) -> None:
    run = batch.runs[name]
    record = batch.job_of(name)
    assert run.state == "failed", (batch.services.task_states(batch.run_ids[name]), record)
    assert record, f"no job record for the run {batch.run_ids[name]}"
    job_id = record["job_id"]
    assert record["job_status"] == "ERROR_NOTIFICATION_SENT", record
    reason = record["error_reason"]
    assert reason_contains in reason and "\n" not in reason, reason
    pods = batch.pods_of(job_id)
    assert len(pods) == 1, "a failed pod is kept for diagnosis"
    # A retry of the task must not have run RDFox again.
    assert batch.pods_created_for(job_id) == [pods[0]["metadata"]["name"]]
    if publish_log_contains:  # the publish step (container "base") says what it found
        assert publish_log_contains in batch.pod_log(pods[0], "base")
    assert batch.loads_of(job_id) == [], "a failed pod must not lead to a Neptune load"
    assert "neptune_load_id" not in record
    states = batch.services.task_states(batch.run_ids[name])
    assert states["start_neptune_load"] in ("upstream_failed", "skipped", None), states
    messages = batch.messages_of(job_id)
    assert len(messages) == 1 and _attributes(messages[0])["status"] == "INFERENCE_FAILED", messages
    keys = batch.s3_keys(job_id)
    if name in ("s3down", "prepare_fails", "oom"):
        assert not any("/data/" in k for k in keys), keys
    if name == "s3down":
        assert keys == [], "S3 was unreachable: nothing can have been written"


def _task_logs(b: Batch) -> list[Path]:
    home = Path(b.services.env["AIRFLOW_HOME"])
    return [p for p in (home / "logs").rglob("*") if p.is_file()]


def _xcoms(b: Batch) -> list[str]:
    with sqlite3.connect(f"file:{b.services.db_path}?mode=ro", uri=True) as conn:
        return [str(row[0]) for row in conn.execute("SELECT value FROM xcom")]


def test_no_secret_in_any_log_xcom_record_or_message(batch: Batch) -> None:
    """The known secrets of this batch appear in no task log, XCom, job record or SNS message."""
    haystacks: dict[str, str] = {}
    logs = _task_logs(batch)
    assert len(logs) >= 5 * 6, "expected the task logs of every run"
    for path in logs:
        haystacks[f"log {path.name}"] = path.read_text(errors="replace")
    xcoms = _xcoms(batch)
    assert xcoms, "expected XComs"
    haystacks["xcom"] = "\n".join(xcoms)
    table = batch.demo.dynamodb.Table(batch.demo.resources["job_table"])
    items = table.scan(ConsistentRead=True)["Items"]
    assert len(items) >= 5
    haystacks["dynamodb"] = json.dumps(_plain(items))
    assert batch.messages
    haystacks["sns"] = json.dumps(batch.messages)
    for what, value in batch.secrets.items():
        needles = {value, value.strip().splitlines()[0]}
        for where, text in haystacks.items():
            for needle in needles:
                assert needle not in text, f"{what} found in {where}"
    time.sleep(0)  # keeps the module's order obvious: this test reads what the batch left
