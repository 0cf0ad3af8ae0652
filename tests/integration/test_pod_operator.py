"""The RDFox pod on the Kubernetes emulator through Airflow, with S3 and DynamoDB on moto.

Every scenario is one task of one DAG run (`airflow dags test` runs the triggers inline): Airflow starts once
for all of them, which keeps this module fast and, on a busy 2-core CI machine, far from any timeout. The
scenarios: the unmodified deferrable ``KubernetesPodOperator`` given our manifest (success with
publish-before-delete, failing RDFox, unmapped image) and the pipeline's ``RdfoxPodOperator`` (success with
the job record, OOM kill, scheduling timeout and unpullable images -> INFERENCE_FAILED with the reason and the
Pending pod deleted, prepare failing -> its log in the task log and its last line in the record).

Publish-before-finish is checked from the emulator's own records (audit log and container log timestamps),
not from wall-clock sleeps: the assertion is about the order of events, whatever the machine's speed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes.client.exceptions import ApiException
from rdfox_pipeline.triggers.resume_floor import RESUME_FLOOR_ENV

from tests.conftest import TEST_REGION
from tests.integration.k8s_emulator_fixtures import K8sEmulator

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

DAGS = Path(__file__).parent / "pod_dags"
DAY = date(2024, 5, 1)
# The first test also pays for the module's one DAG run (~2 min on a quiet 2-core machine).
pytestmark = [pytest.mark.compat, pytest.mark.slow, pytest.mark.timeout(900)]

FILES = {
    "rules/chains.dlog": "[?x, <urn:p>, ?y] :- [?y, <urn:p>, ?x] .\n",
    "part-0001.nt": "<urn:a> <urn:p> <urn:b> .\n",
    "extract1.rq": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }\n",
    "chains.count.rq": "SELECT (COUNT(*) AS ?chainCount) WHERE { ?s ?p ?o }\n",
    "DATASET.rdfoxjob.json": "{}",  # jobspecs in the dataset prefix are not data
}
BAD_DATA = {"zz-bad.nt": "this is not N-Triples\n"}
# Reasoning that outlasts a 1-second startup timeout on any machine: the transitive closure of a 250-link
# chain (31,000 derived facts: seconds for the local reasoner), answered by a count only.
SLOW_FILES = {
    "rules/closure.dlog": "[?x, <urn:r>, ?z] :- [?x, <urn:r>, ?y], [?y, <urn:r>, ?z] .\n",
    "part-0001.nt": "".join(f"<urn:n{i}> <urn:r> <urn:n{i + 1}> .\n" for i in range(250)),
    "extract1.rq": "CONSTRUCT { ?s <urn:r> <urn:n250> } WHERE { ?s <urn:r> <urn:n250> }\n",
    "closure.count.rq": "SELECT (COUNT(*) AS ?closureCount) WHERE { ?s <urn:r> ?o }\n",
}


@dataclass
class Scenario:
    task_id: str
    dataset: str
    job_id: str
    out_bucket: str


@dataclass
class Runs:
    output: str
    states: dict[str, str]
    scenarios: dict[str, Scenario]
    emulator: K8sEmulator
    table: Any

    def keys(self, name: str) -> list[str]:
        bucket = self.scenarios[name].out_bucket
        return sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", []))

    def rdfox_log(self, name: str) -> str:
        s = self.scenarios[name]
        key = f"{s.dataset}/{s.job_id}/rdfox.log"
        return boto3.client("s3").get_object(Bucket=s.out_bucket, Key=key)["Body"].read().decode()

    def pod_name(self, name: str) -> str:
        prefix = self.scenarios[name].dataset.lower()
        created = [e["name"] for e in self.emulator.audit() if e["method"] == "POST" and e["code"] == 201
                   and (e.get("name") or "").startswith(prefix)]  # fmt: skip
        assert len(created) == 1, created
        return created[0]

    def record(self, name: str) -> dict[str, Any]:
        return self.table.require_job(self.scenarios[name].job_id)


def _bucket(prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": TEST_REGION}
    )
    return name


def _states(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT ti.task_id, ti.state FROM task_instance ti JOIN dag_run dr"
            " ON ti.dag_id = dr.dag_id AND ti.run_id = dr.run_id"
            " WHERE dr.id = (SELECT max(id) FROM dag_run WHERE dag_id = 'kpo_on_emulator')"
        ).fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
    moto_server: str,
    airflow_db: Path,
    k8s_emulator_process: K8sEmulator,
) -> Iterator[Runs]:
    from rdfox_pipeline.aws.job_table import JobTable

    tmp = tmp_path_factory.mktemp("pod-runs")
    table_name = f"jobs-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", moto_server)
        table = JobTable(boto3.client("dynamodb"), table_name=table_name, delimiter="_")
        table.create_table_if_missing()
        tasks: list[dict[str, Any]] = []
        scenarios: dict[str, Scenario] = {}

        def add(name: str, kind: str, files: dict[str, str], **jobspec: Any) -> None:
            dataset = "DS" + uuid.uuid4().hex[:8].upper()
            in_bucket, out_bucket = _bucket("pod-in"), _bucket("pod-out")
            for key, body in files.items():
                boto3.client("s3").put_object(Bucket=in_bucket, Key=f"{dataset}/{key}", Body=body.encode())
            spec = {"dataset": dataset, "job_bucket": in_bucket, "output_bucket": out_bucket,
                    "resources": {"cores": 1, "memory": "1Gi"}, **jobspec}  # fmt: skip
            job_id = table.allocate_job(dataset, day=DAY, jobspec=spec)
            scenarios[name] = Scenario(name, dataset, job_id, out_bucket)
            if kind == "kpo":
                tasks.append({"task_id": name, "kind": kind, "jobspec": spec, "job_id": job_id,
                              "settings": {"AWS_DEFAULT_REGION": TEST_REGION}})  # fmt: skip
            else:
                log_uri = f"s3://{out_bucket}/{dataset}/{job_id}/rdfox.log"
                tasks.append(
                    {
                        "task_id": name,
                        "kind": kind,
                        "registration": {"job_id": job_id, "jobspec": spec, "rdfox_log_uri": log_uri},
                    }
                )

        add("kpo_success", "kpo", FILES)
        add("kpo_rdfox_fails", "kpo", {**FILES, **BAD_DATA})
        add("kpo_unmapped_image", "kpo", FILES, images={"publish": "registry.example/not-mapped/publish:9"})
        # A scheduling timeout shorter than the reasoning: it must bound scheduling only.
        add("rdfox_success", "rdfox", SLOW_FILES, settings={"POD_STARTUP_TIMEOUT_SECONDS": 1})
        add("rdfox_oom", "rdfox", FILES, images={"rdfox": "example.test/memory-hog:1"},
            resources={"cores": 1, "memory": "64Mi"})  # fmt: skip
        add("rdfox_unschedulable", "rdfox", FILES, resources={"cores": 512, "memory": "1Gi"},
            settings={"POD_STARTUP_TIMEOUT_SECONDS": 5})  # fmt: skip
        add("rdfox_keep_endpoint", "rdfox", FILES, rdfox={"keep_endpoint": True})
        add("rdfox_fails", "rdfox", {**FILES, **BAD_DATA})
        add(
            "rdfox_unmapped_image",
            "rdfox",
            FILES,
            images={"prepare": "registry.example/not-mapped/prepare:9"},
        )
        # The second init container's image (prepare has run) and the main container's image (the provider's
        # own fail-fast path, not our init container watch): pods that can never start either.
        add(
            "rdfox_unmapped_rdfox_image",
            "rdfox",
            FILES,
            images={"rdfox": "registry.example/not-mapped/rdfox:9"},
        )
        add("rdfox_unmapped_publish_image", "rdfox", FILES,
            images={"publish": "registry.example/not-mapped/publish:9"})  # fmt: skip
        # prepare fails: the dataset prefix holds no data, or the input bucket does not exist.
        add("rdfox_prepare_no_data", "rdfox", {"DATASET.rdfoxjob.json": "{}", "notes.txt": "not data\n"})
        add("rdfox_prepare_no_bucket", "rdfox", FILES, job_bucket=f"pod-missing-{uuid.uuid4().hex[:10]}")

        config_path = tmp / "pod-test.json"
        config_path.write_text(json.dumps({"tasks": tasks}))
        env = {
            **os.environ,
            "POD_TEST_CONFIG": str(config_path),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": k8s_emulator_process.connection_json(),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {"conn_type": "aws", "login": "testing", "password": "testing",
                 "extra": {"endpoint_url": moto_server, "region_name": TEST_REGION}}
            ),
            "JOB_TABLE_NAME": table_name,
            "AWS_DEFAULT_REGION": TEST_REGION,
            RESUME_FLOOR_ENV: "0",  # `dags test` runs triggers inline: no scheduler to race
        }  # fmt: skip
        env.pop("KUBECONFIG", None)  # the connection alone must be enough
        airflow = str(Path(sys.executable).with_name("airflow"))
        result = subprocess.run(
            [airflow, "dags", "test", "kpo_on_emulator"], env=env, capture_output=True, text=True, timeout=720
        )
        # Airflow 3.0 prints a failed task's traceback with rich's colours, inside words: match plain text.
        output = ANSI_ESCAPE.sub("", result.stdout + result.stderr)
        (tmp / "airflow-output.txt").write_text(output)
        yield Runs(output, _states(airflow_db), scenarios, k8s_emulator_process, table)


def _assert_state(runs: Runs, name: str, state: str) -> None:
    assert runs.states.get(name) == state, f"{name}: {runs.states}\n{runs.output[-6000:]}"


def test_success_publishes_before_the_pod_is_finished_or_deleted(runs: Runs) -> None:
    _assert_state(runs, "kpo_success", "success")
    s = runs.scenarios["kpo_success"]
    assert runs.keys("kpo_success") == [
        f"{s.dataset}/{s.job_id}/data/extract1.rq.nt",
        f"{s.dataset}/{s.job_id}/rdfox.log",
    ]
    log = runs.rdfox_log("kpo_success")
    assert "LOADTIME-" in log and "TOTALTIME-" in log and "---factcounts---" in log
    answers = boto3.client("s3").get_object(
        Bucket=s.out_bucket, Key=f"{s.dataset}/{s.job_id}/data/extract1.rq.nt"
    )
    assert b"<urn:b> <urn:p> <urn:a> ." in answers["Body"].read()  # the rule was applied
    assert (
        f"publish: uploaded {s.dataset}/{s.job_id}/rdfox.log" in runs.output
    )  # the operator streamed base's log

    # The operator first saw the pod finished, and deleted it, only after publish's last upload was done.
    pod = runs.pod_name("kpo_success")
    audit = [e for e in runs.emulator.audit() if f"/pods/{pod}" in e["path"]]
    finished_seen = min(e["time"] for e in audit if e.get("phase") in ("Succeeded", "Failed"))
    deleted = min(e["time"] for e in audit if e["method"] == "DELETE")
    from rdfox_local.k8s_emulator.clock import parse

    base_log = next((runs.emulator.state_dir / "pods").glob(f"*/{pod}-*")) / "logs" / "base.log"
    upload_times = [parse(line.split(" ", 1)[0]).timestamp() for line in base_log.read_text().splitlines()
                    if "publish: uploaded" in line]  # fmt: skip
    assert len(upload_times) == 2
    assert max(upload_times) < finished_seen <= deleted


def test_failing_rdfox_fails_the_task_and_still_publishes_the_log(runs: Runs) -> None:
    _assert_state(runs, "kpo_rdfox_fails", "failed")
    s = runs.scenarios["kpo_rdfox_fails"]
    assert runs.keys("kpo_rdfox_fails") == [
        f"{s.dataset}/{s.job_id}/rdfox.log"
    ]  # for diagnosis, nothing else
    log = runs.rdfox_log("kpo_rdfox_fails")
    assert "zz-bad.nt" in log and "LOADTIME-" not in log  # `set on-error stop` ended the script there
    assert f"Pod {runs.pod_name('kpo_rdfox_fails')} returned a failure" in runs.output


def test_unmapped_image_fails_with_the_pull_reason(runs: Runs) -> None:
    _assert_state(runs, "kpo_unmapped_image", "failed")
    assert "ErrImagePull" in runs.output or "ImagePullBackOff" in runs.output
    assert "registry.example/not-mapped/publish:9" in runs.output
    assert runs.keys("kpo_unmapped_image") == []


def test_pipeline_operator_success_records_the_pod_and_node(runs: Runs) -> None:
    _assert_state(runs, "rdfox_success", "success")
    record = runs.record("rdfox_success")
    assert record["job_status"] == "SCHEDULED"  # parse_rdfox_log, not the pod task, decides what comes next
    assert record["pod_name"] == runs.pod_name("rdfox_success")
    assert record["worker_node_type"] == "emulated.local"
    s = runs.scenarios["rdfox_success"]
    assert f"{s.dataset}/{s.job_id}/rdfox.log" in runs.keys("rdfox_success")
    # The pod stayed Pending (init containers: prepare, reasoning) longer than POD_STARTUP_TIMEOUT_SECONDS.
    pod = runs.pod_name("rdfox_success")
    audit = [e for e in runs.emulator.audit() if e.get("name") == pod]
    created = min(e["time"] for e in audit if e["method"] == "POST")
    running = min(e["time"] for e in audit if e.get("phase") in ("Running", "Succeeded"))
    assert running - created > 1


def test_failing_rdfox_fails_the_job_with_the_exit_status_and_the_logs_diagnosis(runs: Runs) -> None:
    _assert_state(runs, "rdfox_fails", "failed")
    record = runs.record("rdfox_fails")
    assert record["job_status"] == "INFERENCE_FAILED"
    assert record["error_reason"].startswith("container base exited with status 1 (Error); rdfox.log: ")
    s = runs.scenarios["rdfox_fails"]
    assert record["rdfox_log_uri"] == f"s3://{s.out_bucket}/{s.dataset}/{s.job_id}/rdfox.log"


def _deletes(runs: Runs, pod: str) -> list[dict[str, Any]]:
    return [e for e in runs.emulator.audit()
            if e["method"] == "DELETE" and e["path"].split("?")[0].endswith(f"/pods/{pod}")]  # fmt: skip


def _assert_pod_deleted(runs: Runs, name: str) -> None:
    """The operator deleted the pod (the emulator's audit has the DELETE) and it is gone from the cluster."""
    from kubernetes.client.exceptions import ApiException

    pod = runs.pod_name(name)
    deletes = _deletes(runs, pod)
    assert [e["code"] for e in deletes] == [200], f"{name}: {pod} was not deleted: {deletes}"
    assert deletes[0]["phase"] == "Pending"  # deleted while it still waited to start
    with pytest.raises(ApiException) as gone:
        runs.emulator.client().read_namespaced_pod(pod, "rdfox")
    assert gone.value.status == 404


@pytest.mark.parametrize(
    ("name", "container", "image"),
    [
        ("rdfox_unmapped_image", "prepare", "registry.example/not-mapped/prepare:9"),
        ("rdfox_unmapped_rdfox_image", "rdfox", "registry.example/not-mapped/rdfox:9"),
        ("rdfox_unmapped_publish_image", "base", "registry.example/not-mapped/publish:9"),
    ],
)
def test_image_pull_error_fails_the_job_with_the_reason_and_deletes_the_pod(
    runs: Runs, name: str, container: str, image: str
) -> None:
    _assert_state(runs, name, "failed")
    record = runs.record(name)
    assert record["job_status"] == "INFERENCE_FAILED"
    reason = record["error_reason"]  # the kubelet says ErrImagePull first, ImagePullBackOff after a retry
    assert reason.startswith(
        (
            f"container {container} could not start (ErrImagePull",
            f"container {container} could not start (ImagePullBackOff",
        )
    ), reason
    assert image in reason
    assert reason.endswith(f"; pod {runs.pod_name(name)} deleted: still Pending when the task ended")
    # A pod waiting on an image keeps its node's requests reserved: it must not outlive the task.
    _assert_pod_deleted(runs, name)


def test_oom_killed_rdfox_fails_the_job_with_the_reason(runs: Runs) -> None:
    _assert_state(runs, "rdfox_oom", "failed")
    record = runs.record("rdfox_oom")
    assert record["job_status"] == "INFERENCE_FAILED"
    assert "container rdfox exited with status 137 (OOMKilled)" in record["error_reason"]


def test_scheduling_timeout_fails_the_job_with_the_scheduler_reason(runs: Runs) -> None:
    _assert_state(runs, "rdfox_unschedulable", "failed")
    record = runs.record("rdfox_unschedulable")
    assert record["job_status"] == "INFERENCE_FAILED"
    assert "could not be scheduled (Unschedulable" in record["error_reason"]
    assert "Insufficient cpu" in record["error_reason"]
    assert record["error_reason"].endswith(
        f"; pod {runs.pod_name('rdfox_unschedulable')} deleted: still Pending when the task ended"
    )
    _assert_pod_deleted(runs, "rdfox_unschedulable")


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("rdfox_prepare_no_data", "holds no data files"),
        ("rdfox_prepare_no_bucket", "NoSuchBucket"),
    ],
)
def test_failed_prepare_puts_its_log_in_the_task_log(runs: Runs, name: str, error: str) -> None:
    _assert_state(runs, name, "failed")
    record = runs.record(name)
    assert record["job_status"] == "INFERENCE_FAILED"
    # prepare's last log line, its termination message (FallbackToLogsOnError), says why.
    reason = record["error_reason"]
    assert reason.startswith("container prepare exited with status 1 (Error): prepare: error: "), reason
    assert error in reason
    # prepare's own words (they are in no S3 object: publish never ran), in the task's log.
    lines = [line for line in runs.output.splitlines() if "[prepare]" in line and "prepare: error:" in line]
    assert any(error in line for line in lines), runs.output[-6000:]
    # A failed pod is kept for diagnosis (it holds no resources once its containers ended).
    assert not _deletes(runs, runs.pod_name(name))


CLI = str(Path(sys.executable).with_name("rdfox-pipeline"))


def _cli(runs: Runs, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "endpoint", *args, "--kubeconfig", str(runs.emulator.kubeconfig), "--namespace", "rdfox"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _wait_for_pod(api: Any, name: str, done: Any, timeout: float = 90.0) -> Any:
    """Poll the pod until ``done(pod)``; returns it (no fixed sleeps: as fast as the machine allows)."""
    deadline = time.monotonic() + timeout
    while True:
        pod = api.read_namespaced_pod(name, "rdfox")
        if done(pod) or time.monotonic() > deadline:
            return pod
        time.sleep(0.2)


def test_kept_endpoint_is_a_pod_of_its_own_and_the_cli_ends_it(runs: Runs) -> None:
    _assert_state(runs, "rdfox_keep_endpoint", "success")  # the task ended: no worker slot is held
    s = runs.scenarios["rdfox_keep_endpoint"]
    name = runs.record("rdfox_keep_endpoint")["rdfox_endpoint_pod"]
    api = runs.emulator.client()
    pod = api.read_namespaced_pod(name, "rdfox")
    assert pod.metadata.labels["app.kubernetes.io/component"] == "endpoint"
    assert pod.metadata.labels["rdfox-pipeline/job-id"] == s.job_id
    assert pod.spec.active_deadline_seconds == 24 * 3600  # the RDFOX_ENDPOINT_TTL_HOURS default
    # Its own credentials: a Secret of its name, owned by the pod; the password is in no task output.
    secret = api.read_namespaced_secret(name, "rdfox")
    assert secret.metadata.owner_references[0].uid == pod.metadata.uid
    assert base64.b64decode(secret.data["password"]).decode() not in runs.output
    assert f"kubectl get secret -n rdfox {name} -o jsonpath" in runs.output

    def fetched(p: Any) -> bool:
        statuses = p.status.init_container_statuses or []
        return bool(statuses) and statuses[0].state.terminated is not None

    assert fetched(_wait_for_pod(api, name, fetched))
    fetch_log = api.read_namespaced_pod_log(name, "rdfox", container="fetch")
    assert (
        f"downloaded 1 published file(s) from s3://{s.out_bucket}/{s.dataset}/{s.job_id}/data/" in fetch_log
    )

    listed = _cli(runs, "list")
    assert listed.returncode == 0, listed.stderr
    assert any(name in line and s.job_id in line for line in listed.stdout.splitlines())
    deleted = _cli(runs, "delete", s.job_id)
    assert deleted.returncode == 0, deleted.stderr
    assert name not in _cli(runs, "list").stdout
    again = _cli(runs, "delete", s.job_id)
    assert again.returncode == 2 and "has no endpoint pod" in again.stderr
    with pytest.raises(ApiException) as gone:
        api.read_namespaced_secret(name, "rdfox")
    assert gone.value.status == 404


TTL = 6


def test_endpoint_ttl_is_enforced_by_kubernetes_not_by_airflow(runs: Runs) -> None:
    from rdfox_pipeline.domain.jobspec import parse_jobspec
    from rdfox_pipeline.domain.settings import resolve_settings
    from rdfox_pipeline.pod.endpoint import build_endpoint_manifest

    s = runs.scenarios["rdfox_success"]  # a finished job: its answers are published
    spec = parse_jobspec({"dataset": s.dataset, "output_bucket": s.out_bucket,
                          "images": {"rdfox": "example.test/waits-on-stdin:1"}})  # fmt: skip
    manifest = build_endpoint_manifest(
        spec, s.job_id, resolve_settings(env={"AWS_DEFAULT_REGION": TEST_REGION}),
        now=datetime.now(tz=UTC), ttl_seconds=TTL,
    )  # fmt: skip
    api = runs.emulator.client()
    name = manifest["metadata"]["name"]
    created = time.monotonic()
    api.create_namespaced_pod("rdfox", manifest)
    # The stand-in for RDFox never ends by itself (it waits on its open stdin): only the TTL can end it.
    ended = _wait_for_pod(api, name, lambda p: p.status.phase in ("Succeeded", "Failed"))
    assert (ended.status.phase, ended.status.reason) == ("Failed", "DeadlineExceeded")
    assert time.monotonic() - created >= TTL
    api.delete_namespaced_pod(name, "rdfox")
