"""The unmodified KubernetesPodOperator, deferrable, running the RDFox pod on the Kubernetes emulator through
Airflow (`airflow dags test` runs the trigger inline), with S3 on moto."""

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

from tests.integration.k8s_emulator_fixtures import K8sEmulator

DAGS = Path(__file__).parent / "pod_dags"
pytestmark = pytest.mark.slow


def _bucket(prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return name


def _dataset(bucket: str, dataset: str, files: dict[str, str]) -> None:
    s3 = boto3.client("s3")
    for key, body in files.items():
        s3.put_object(Bucket=bucket, Key=f"{dataset}/{key}", Body=body.encode())


def _run_dag(tmp_path: Path, config: dict[str, Any], emulator: K8sEmulator) -> subprocess.CompletedProcess:
    config_path = tmp_path / "pod-test.json"
    config_path.write_text(json.dumps(config))
    env = {
        **os.environ,
        "POD_TEST_CONFIG": str(config_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": emulator.connection_json(),
    }
    env.pop("KUBECONFIG", None)  # the connection alone must be enough
    airflow = str(Path(sys.executable).with_name("airflow"))
    return subprocess.run(
        [airflow, "dags", "test", "kpo_on_emulator"], env=env, capture_output=True, text=True, timeout=240
    )


def _job(tmp_path: Path, files: dict[str, str], **jobspec: Any) -> tuple[dict[str, Any], str, str, str]:
    dataset = "DS" + uuid.uuid4().hex[:8].upper()
    job_id = f"{dataset}_2024-05-01_000"
    in_bucket, out_bucket = _bucket("pod-in"), _bucket("pod-out")
    _dataset(in_bucket, dataset, files)
    spec = {"dataset": dataset, "job_bucket": in_bucket, "output_bucket": out_bucket,
            "resources": {"cores": 1, "memory": "1Gi"}, **jobspec}
    return {"jobspec": spec, "job_id": job_id, "settings": {"AWS_DEFAULT_REGION": "eu-west-2"}}, dataset, job_id, out_bucket


def _keys(bucket: str) -> list[str]:
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


FILES = {
    "rules/chains.dlog": "[?x, :p, ?y] :- [?y, :p, ?x] .\n",
    "part-0001.nt": "<urn:a> <urn:p> <urn:b> .\n",
    "extract1.rq": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }\n",
    "chains.count.rq": "SELECT (COUNT(*) AS ?chainCount) WHERE { ?s ?p ?o }\n",
}


def test_success_publishes_before_the_pod_is_finished_or_deleted(
    tmp_path: Path, aws_endpoint: str, airflow_db: Path, k8s_emulator: K8sEmulator
) -> None:
    config, dataset, job_id, out_bucket = _job(tmp_path, FILES)
    result = _run_dag(tmp_path, config, k8s_emulator)
    output = result.stdout + result.stderr
    assert "state=success" in output or "Marking task as SUCCESS" in output, output[-4000:]
    assert sorted(_keys(out_bucket)) == [f"{dataset}/{job_id}/data/extract1.rq.nt", f"{dataset}/{job_id}/rdfox.log"]
    log = boto3.client("s3").get_object(Bucket=out_bucket, Key=f"{dataset}/{job_id}/rdfox.log")["Body"].read()
    assert b"LOADTIME-" in log and b"TOTALTIME-" in log
    assert "[base]" in output and "publish: uploaded" in output  # the operator streamed publish's log

    # Publish-before-delete: the operator first saw the pod finished, and deleted it, only after publish's
    # last upload (the log) was done; the upload time comes from the base container's log line.
    pod_name = [e["path"].split("/")[6].split("?")[0] for e in k8s_emulator.audit()
                if e["method"] == "POST" and e["path"].endswith("/pods") and e["code"] == 201]
    ours = [n for n in pod_name if n.startswith(dataset.lower())]
    assert len(ours) == 1, pod_name
    audit = [e for e in k8s_emulator.audit() if f"/pods/{ours[0]}" in e["path"] or e["path"].endswith("/pods")]
    finished_seen = min(e["time"] for e in audit if e.get("phase") in ("Succeeded", "Failed"))
    deleted = min(e["time"] for e in audit if e["method"] == "DELETE")
    upload_lines = [line for line in output.splitlines() if f"uploaded {dataset}/{job_id}/rdfox.log" in line]
    assert upload_lines, output[-3000:]
    pod_dirs = list((k8s_emulator.state_dir / "pods").glob(f"*/{ours[0]}-*"))
    base_log = (pod_dirs[0] / "logs" / "base.log").read_text()
    from rdfox_local.k8s_emulator.clock import parse

    upload_time = max(parse(line.split(" ", 1)[0]).timestamp() for line in base_log.splitlines()
                      if "publish: uploaded" in line)
    assert upload_time < finished_seen <= deleted


def test_failing_rdfox_fails_the_task_and_still_publishes_the_log(
    tmp_path: Path, aws_endpoint: str, airflow_db: Path, k8s_emulator: K8sEmulator
) -> None:
    config, dataset, job_id, out_bucket = _job(tmp_path, {**FILES, "bad.nt": "FAIL-THE-REASONER\n"})
    result = _run_dag(tmp_path, config, k8s_emulator)
    output = result.stdout + result.stderr
    assert "state=failed" in output or "Marking task as FAILED" in output, output[-4000:]
    assert "returned a failure" in output, output[-4000:]
    assert _keys(out_bucket) == [f"{dataset}/{job_id}/rdfox.log"]  # the log of the failed run, for diagnosis
    log = boto3.client("s3").get_object(Bucket=out_bucket, Key=f"{dataset}/{job_id}/rdfox.log")["Body"].read()
    assert b"could not be imported" in log


def test_unmapped_image_fails_with_the_pull_reason(
    tmp_path: Path, aws_endpoint: str, airflow_db: Path, k8s_emulator: K8sEmulator
) -> None:
    config, dataset, job_id, out_bucket = _job(
        tmp_path, FILES, images={"publish": "registry.example/not-mapped/publish:9"}
    )
    result = _run_dag(tmp_path, config, k8s_emulator)
    output = result.stdout + result.stderr
    assert "state=failed" in output or "Marking task as FAILED" in output, output[-4000:]
    assert "ErrImagePull" in output or "ImagePullBackOff" in output, output[-4000:]
    assert "registry.example/not-mapped/publish:9" in output
