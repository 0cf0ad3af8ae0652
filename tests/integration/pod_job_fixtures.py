"""A job of the RDFox pod operator, run in-process as a worker runs it: moto (S3, DynamoDB), the Kubernetes
emulator, a context with what the operator reads of the task instance."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest

from tests.conftest import TEST_REGION
from tests.integration.k8s_emulator_fixtures import K8sEmulator

FILES = {
    "rules/chains.dlog": "[?x, <urn:p>, ?y] :- [?y, <urn:p>, ?x] .\n",
    "part-0001.nt": "<urn:a> <urn:p> <urn:b> .\n",
    "extract1.rq": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }\n",
}
BAD_DATA = {"zz-bad.nt": "this is not N-Triples\n"}


@dataclass
class TI:
    """What the pod operator uses of ``context["ti"]`` on a worker."""

    try_number: int
    dag_id: str = "rdfox_neptune_pipeline"
    task_id: str = "reason"
    map_index: int = -1
    start_date: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    xcoms: dict[str, Any] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("tests.pod_retry"))

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@dataclass
class Job:
    job_id: str
    dataset: str
    out_bucket: str
    registration: dict[str, Any]
    run_id: str

    def context(self, try_number: int, start_date: datetime | None = None) -> dict[str, Any]:
        ti = TI(try_number) if start_date is None else TI(try_number, start_date=start_date)
        return {"ti": ti, "run_id": self.run_id, "dag": object()}


@pytest.fixture
def pod_world(
    k8s_emulator: K8sEmulator, aws_default_connection: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    from rdfox_pipeline.aws.job_table import JobTable
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    table_name = f"jobs-{uuid.uuid4().hex[:8]}"
    table = JobTable(boto3.client("dynamodb"), table_name=table_name, delimiter="_")
    table.create_table_if_missing()
    monkeypatch.setenv("JOB_TABLE_NAME", table_name)
    monkeypatch.delenv("CLUSTER_NAME", raising=False)
    # The connection names the kubeconfig; KUBECONFIG as well would give the trigger two configurations.
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("RDFOX_PIPELINE_RESUME_FLOOR_SECONDS", "0")  # the trigger runs in this process
    clear_ssm_settings()
    clear_settings_cache()
    return {"table": table, "emulator": k8s_emulator}


def clear_ssm_settings() -> None:
    from rdfox_pipeline.domain.settings import SSM_PATH

    ssm = boto3.client("ssm", region_name=TEST_REGION)
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=SSM_PATH, Recursive=True)
    names = [p["Name"] for page in pages for p in page["Parameters"]]
    for start in range(0, len(names), 10):
        ssm.delete_parameters(Names=names[start : start + 10])


def make_job(world: dict[str, Any], files: dict[str, str], **jobspec: Any) -> Job:
    s3 = boto3.client("s3")
    dataset = "RT" + uuid.uuid4().hex[:8].upper()
    buckets = []
    for prefix in ("retry-in", "retry-out"):
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
        buckets.append(name)
    for key, body in files.items():
        s3.put_object(Bucket=buckets[0], Key=f"{dataset}/{key}", Body=body.encode())
    spec = {"dataset": dataset, "job_bucket": buckets[0], "output_bucket": buckets[1],
            "resources": {"cores": 1, "memory": "1Gi"}, **jobspec}  # fmt: skip
    job_id = world["table"].allocate_job(dataset, day=date(2024, 5, 1), jobspec=spec)
    log_uri = f"s3://{buckets[1]}/{dataset}/{job_id}/rdfox.log"
    registration = {"job_id": job_id, "jobspec": spec, "rdfox_log_uri": log_uri}
    return Job(job_id, dataset, buckets[1], registration, f"manual__{uuid.uuid4().hex[:10]}")
