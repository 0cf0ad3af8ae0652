"""The legacy-style sample through the whole DAG on the local stack, with its old-form jobspec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[2] / "include" / "samples" / "legacy-style"
DATASET = "LEGACY"


def test_legacy_style_job_succeeds_and_neptune_loads_every_answer(local_stack) -> None:
    demo = local_stack.demo
    bucket, output = demo.resources["input_bucket"], demo.resources["output_bucket"]
    for path in sorted(SAMPLE.iterdir()):
        if not path.name.endswith(".rdfoxjob.json"):
            demo.s3.upload_file(str(path), bucket, f"{DATASET}/{path.name}")
    jobspec = json.loads((SAMPLE / "legacy.rdfoxjob.json").read_text())
    assert jobspec["job_key"] == DATASET  # the old flat form, unchanged apart from the buckets
    jobspec.update(job_bucket=bucket, output_bucket=output)
    before = demo.job_ids(DATASET)
    code, log = local_stack.run_dag({"jobspec": jobspec}, "legacy-style")
    new = sorted(demo.job_ids(DATASET) - before)
    assert len(new) == 1, log[-3000:]
    record = demo.job_record(new[0], DATASET)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT", (record.get("error_reason"), log[-3000:])
    assert code == 0

    counts = record["rdfox_stats"]["counts"]
    assert counts["partialChainCount"] > counts["fullChainCount"] > 0  # no *.count.rq: the old defaults

    prefix = f"{DATASET}/{new[0]}/data/"
    listed = demo.s3.list_objects_v2(Bucket=output, Prefix=prefix).get("Contents", [])
    names = sorted(item["Key"][len(prefix) :] for item in listed)
    assert names == ["fullchains.rq.nt", "suspicious.rq.nt"]
    lines = 0
    for name in names:
        body = demo.s3.get_object(Bucket=output, Key=prefix + name)["Body"].read().decode("utf-8")
        assert body.startswith("<http://oxfordsemantic.tech/transactions/")
        lines += len(body.splitlines())
    assert record["neptune_stats"]["total_records"] == lines
