"""`rdfox-pipeline jobs import-legacy` against moto's server: an old job table (pk/sk, old attribute names)
copied into the job table; idempotent, read-only on the source, ids continue after the imported ones."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import pytest
from rdfox_pipeline.aws.job_table import JobTable
from rdfox_pipeline.aws.legacy_import import import_legacy_table
from rdfox_pipeline.cli.main import main as cli_main
from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

from tests.conftest import TEST_REGION

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("cli_stdout_only")]

OLD_JOBSPEC = {
    "requested_cores": 4, "requested_memory": "10Gi", "auto_shutdown": True, "parallelism": 1,
    "job_bucket": "in", "job_key": "ALPHA", "output_bucket": "out",
}  # fmt: skip


def _old_item(dataset: str, day: str, seq: int, status: str = "SUCCESS_NOTIFICATION_SENT") -> dict:
    """An item as the old system wrote it (boto3 resource form: numbers as Decimal)."""
    sk = f"{day}_{seq:03d}"
    item: dict[str, Any] = {
        "pk": dataset,
        "sk": sk,
        "job_id": f"{dataset}_{sk}",
        "job_status": status,
        "jobspec": json.dumps({**OLD_JOBSPEC, "job_key": dataset}),
        "created": f"{day}T19:41:03.123456",
        "updated": Decimal(1627997946 + seq),  # some old writers stored epoch seconds
        "pod_name": f"rdfox-{dataset.lower()}-{seq}",
        "worker_node_type": "r5.8xlarge",
    }
    if status == "SUCCESS_NOTIFICATION_SENT":
        item.update(
            neptune_load_id=str(uuid.UUID(int=seq + 1)),
            neptune_statistics_raw=json.dumps({"overallStatus": {"status": "LOAD_COMPLETED"}}),
            neptune_statistics={"totalRecords": Decimal(41220091), "totalTimeSpent": Decimal(3014)},
            rdfox_statistics_raw={"LOADTIME": Decimal(254), "Bytes per entry": Decimal("101.891")},
            rdfox_statistics={"time_to_load": Decimal(254)},
            neptune_writer_instance="graph-prod-w1",
            memory_usage_gigabytes=Decimal("80.274"),
            time_to_load_neptune=Decimal(3014),
        )
    else:
        item["error_reason"] = "RDFox reported an error at line 12"
    return item


OLD_ITEMS = [
    _old_item("ALPHA", "2021-08-01", 0),
    _old_item("ALPHA", "2021-08-01", 1),
    _old_item("ALPHA", "2021-08-01", 2, "INFERENCE_FAILED"),
    _old_item("ALPHA", "2021-08-03", 0),
    _old_item("BETA", "2021-08-01", 0),
    _old_item("BETA", "2021-08-02", 0),
    _old_item("BETA", "2021-08-02", 1, "NEPTUNE_LOAD_FAILED"),
    _old_item("BETA", "2021-08-02", 7),  # gaps happen: the next id is 008
    _old_item("GAMMA", "2021-07-30", 0),
    _old_item("GAMMA", "2021-07-31", 0),
]
BAD_ITEMS = [
    {**_old_item("GAMMA", "2021-08-01", 0), "job_status": "DONE"},  # not a status of the old system
    {"pk": "GAMMA", "sk": "counter", "value": Decimal(3)},  # not a job
]


@pytest.fixture
def tables(aws_endpoint: str) -> tuple[str, str]:
    """An old job table filled with OLD_ITEMS + BAD_ITEMS and an empty job table; returns their names."""
    suffix = uuid.uuid4().hex[:8]
    old, new = f"old-jobs-{suffix}", f"jobs-{suffix}"
    resource = boto3.resource("dynamodb", region_name=TEST_REGION)
    table = resource.create_table(
        TableName=old,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in OLD_ITEMS + BAD_ITEMS:
        table.put_item(Item=item)
    JobMetadataHook(aws_conn_id=None, table_name=new, delimiter="_").create_table_if_missing()
    return old, new


def full_scan(table: str) -> list[dict]:
    client = boto3.client("dynamodb", region_name=TEST_REGION)
    items, request = [], {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: json.dumps(i, sort_keys=True))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run(capsys, *args: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = cli_main(["jobs", "import-legacy", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args and out else out), err


def test_import_maps_counts_and_is_idempotent(tables, capsys) -> None:
    old, new = tables
    source_before = full_scan(old)
    # A job the new pipeline already ran under an old id: the import must not overwrite it.
    hook = JobMetadataHook(aws_conn_id=None, table_name=new, delimiter="_")
    taken = hook.allocate_job("ALPHA", day=date(2021, 8, 1), jobspec={"dataset": "ALPHA"})
    assert taken == "ALPHA_2021-08-01_000"

    args = ("--from-table", old, "--table", new, "--delimiter", "_", "--page-size", "3", "--json")
    code, report, _ = run(capsys, *args)
    assert code == 1  # one conflict, two skips: not complete
    assert {k: report[k] for k in ("read", "imported", "identical", "conflicting", "skipped")} == {
        "read": 12, "imported": 9, "identical": 0, "conflicting": 1, "skipped": 2,
    }  # fmt: skip
    assert report["conflicts"][0]["job_id"] == taken
    assert "job_status" in report["conflicts"][0]["differing_fields"]
    reasons = {s["sk"]: s["reason"] for s in report["skips"]}
    assert reasons["2021-08-01_000"].startswith("job_status: unknown job status 'DONE'")
    assert reasons["counter"] == "sk: 'counter' is not <YYYY-MM-DD>_<NNN>"

    record = hook.get_job("BETA_2021-08-02_000")
    assert record == {
        "dataset": "BETA",
        "job_key": "2021-08-02_000",
        "job_id": "BETA_2021-08-02_000",
        "job_status": "SUCCESS_NOTIFICATION_SENT",
        "jobspec": {**OLD_JOBSPEC, "job_key": "BETA"},
        "created_at": "2021-08-02T19:41:03.123456+00:00",
        "updated_at": "2021-08-03T13:39:06.000000+00:00",
        "revision": 0,
        "imported_from": old,
        "pod_name": "rdfox-beta-0",
        "worker_node_type": "r5.8xlarge",
        "neptune_load_id": "00000000-0000-0000-0000-000000000001",
        "neptune_stats_raw": '{"overallStatus": {"status": "LOAD_COMPLETED"}}',
        "neptune_stats": {"totalRecords": 41220091, "totalTimeSpent": 3014},
        "rdfox_statistics_raw": {"LOADTIME": 254, "Bytes per entry": 101.891},
        "rdfox_stats": {"time_to_load": 254},
        "neptune_writer_instance": "graph-prod-w1",
        "memory_usage_gigabytes": 80.274,
        "time_to_load_neptune": 3014,
    }
    assert hook.get_job("ALPHA_2021-08-01_002")["error_reason"] == "RDFox reported an error at line 12"
    # Imported records are found through the status index like any other.
    assert {r["job_id"] for r in hook.iter_jobs_by_status("NEPTUNE_LOAD_FAILED")} == {"BETA_2021-08-02_001"}

    target_after_first = full_scan(new)
    code, again, _ = run(capsys, *args)
    assert code == 1
    assert (again["imported"], again["identical"], again["conflicting"], again["skipped"]) == (0, 9, 1, 2)
    assert full_scan(new) == target_after_first  # the second run changed nothing
    assert full_scan(old) == source_before  # the source was never written


def test_new_jobs_continue_after_imported_ids(tables, capsys) -> None:
    old, new = tables
    assert run(capsys, "--from-table", old, "--table", new, "--delimiter", "_")[0] == 1
    hook = JobMetadataHook(aws_conn_id=None, table_name=new, delimiter="_")
    assert hook.allocate_job("BETA", day=date(2021, 8, 2)) == "BETA_2021-08-02_008"
    assert hook.allocate_job("ALPHA", day=date(2021, 8, 1)) == "ALPHA_2021-08-01_003"
    assert hook.allocate_job("GAMMA", day=date(2021, 8, 1)) == "GAMMA_2021-08-01_000"  # its item was skipped


def test_dry_run_writes_nothing(tables, capsys) -> None:
    old, new = tables
    code, out, _ = run(capsys, "--from-table", old, "--table", new, "--delimiter", "_", "--dry-run")
    assert code == 1
    assert "(dry run: nothing written)" in out
    assert "read 12, to import 10, already present 0, conflicting 0, skipped 2" in out
    assert full_scan(new) == []


def test_source_is_only_described_and_scanned_page_by_page(tables) -> None:
    old, new = tables
    calls: list[str] = []
    real = boto3.client("dynamodb", region_name=TEST_REGION)

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(real, name)

    target = JobTable(boto3.client("dynamodb", region_name=TEST_REGION), table_name=new, delimiter="_")
    report = import_legacy_table(Recorder(), target, old, page_size=2)
    assert report.read == 12 and report.imported == 10
    assert set(calls) == {"describe_table", "scan"}
    assert calls.count("scan") >= 6  # 12 items, 2 a page


def test_wrong_key_schema_is_refused_naming_it(aws_endpoint, tables, capsys) -> None:
    _, new = tables
    # Today's job table is not an old one: it has dataset/job_key.
    code, _, err = run(capsys, "--from-table", new, "--table", f"other-{new}", "--delimiter", "_")
    assert code == 2
    assert f"source table {new!r} has key schema dataset (HASH), job_key (RANGE); " in err
    assert "an old job table has pk (HASH) + sk (RANGE)" in err
    code, _, err = run(capsys, "--from-table", new, "--table", new, "--delimiter", "_")
    assert code == 2 and "is the job table itself" in err
    code, _, err = run(capsys, "--from-table", "no-such-table", "--table", new, "--delimiter", "_")
    assert code == 2 and "source table 'no-such-table' does not exist" in err
