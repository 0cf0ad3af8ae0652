"""Issue 18 item 7: the pod role allows every S3 request the pod's steps make, bucket and key included.

tests/unit/test_iam_policies.py checks actions found in the code; here the steps run against moto's server
(prepare, publish, then a kept endpoint's fetch of what publish wrote), every request they send is recorded,
and each must be allowed by deploy/iam/rdfox-pod-irsa-policy.json on its bucket/key (and ListBucket's prefix
condition), with the placeholders replaced by the test's buckets.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from rdfox_local.steps.endpoint import fetch
from rdfox_local.steps.prepare import prepare
from rdfox_local.steps.publish import publish

from tests.conftest import TEST_REGION

pytestmark = [pytest.mark.timeout(120)]
POLICY = Path(__file__).resolve().parents[2] / "deploy" / "iam" / "rdfox-pod-irsa-policy.json"
# The S3 API operation -> the IAM action it needs (s3transfer's HEAD + GET, PUT or multipart).
ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(policy: dict[str, Any], action: str, arn: str, prefix: str | None) -> bool:
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or action not in _as_list(statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(arn, r) for r in _as_list(statement["Resource"])):
            continue
        wanted = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        if wanted is None or (prefix is not None and any(fnmatch.fnmatchcase(prefix, p) for p in wanted)):
            return True
    return False


def test_the_pod_role_allows_what_prepare_publish_and_the_endpoint_fetch_send(
    aws_endpoint: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", region_name=TEST_REGION)
    sent: list[tuple[str, dict[str, Any]]] = []
    s3.meta.events.register(
        "provide-client-params.s3.*",
        lambda params, model, **_: sent.append((model.name, dict(params))),
    )
    job_bucket, output_bucket = (f"{kind}-{uuid.uuid4().hex[:10]}" for kind in ("in", "out"))
    for bucket in (job_bucket, output_bucket):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
    s3.put_object(Bucket=job_bucket, Key="DS/data.nt", Body=b"<http://a/s> <http://a/p> <http://a/o> .\n")
    s3.put_object(Bucket=job_bucket, Key="DS/q.rq", Body=b"CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }\n")
    sent.clear()  # the test's own setup is not the pod's
    job_id = "DS_2024-01-01_000"
    output = tmp_path / "output"
    env = {"JOB_BUCKET": job_bucket, "OUTPUT_BUCKET": output_bucket, "DATASET": "DS", "JOB_ID": job_id}
    dirs = {
        "DATA_DIR": str(tmp_path / "data"),
        "SCRIPTS_DIR": str(tmp_path / "scripts"),
        "OUTPUT_DIR": str(output),
    }

    prepare({**env, **dirs}, s3=s3)
    (output / "data" / "q.nt").write_text("<http://a/s> <http://a/p> <http://a/o> .\n")
    (output / "rdfox.log").write_text("TOTALTIME-01-Jan-2024 00:00:00|01-Jan-2024 00:00:01\n")
    (output / "rdfox.exitcode").write_text("0\n")
    assert not publish({**env, **dirs}, s3=s3).problems
    endpoint_dirs = {"DATA_DIR": str(tmp_path / "served"), "SCRIPTS_DIR": str(tmp_path / "endpoint")}
    fetch({**env, **endpoint_dirs}, s3=s3)

    policy = json.loads(
        POLICY.read_text().replace("${InputBucket}", job_bucket).replace("${OutputBucket}", output_bucket)
    )
    seen = {ACTIONS[name] for name, _ in sent}
    assert seen == {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}, sent
    denied = []
    for name, params in sent:
        bucket, key = params["Bucket"], params.get("Key")
        arn = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")
        if not allows(policy, ACTIONS[name], arn, params.get("Prefix")):
            denied.append(f"{name} {arn} prefix={params.get('Prefix')!r}")
    assert not denied, f"the pod role refuses: {denied}"
