"""Neptune loader status payload -> NeptuneStats; humanize helpers used by notifications."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rdfox_pipeline.domain import humanize
from rdfox_pipeline.domain.neptune_stats import NeptuneStatusError, parse_neptune_status
from rdfox_pipeline.domain.statuses import JobStatus


@pytest.fixture(scope="module")
def completed(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "neptune-loader-status-completed.json").read_text())


def test_reference_payload(completed: dict) -> None:
    stats = parse_neptune_status(completed)
    assert stats.status == "LOAD_COMPLETED" and stats.is_completed and not stats.is_active
    assert stats.job_status is JobStatus.NEPTUNE_LOAD_COMPLETED
    assert stats.load_id == "a1cac8fa-ad02-4e28-9dc6-12f3e7b57ff8"
    assert stats.start_time == 1627997946 and stats.start_time_iso == "2021-08-03T13:39:06+00:00"
    assert (stats.total_records, stats.total_duplicates, stats.total_time_spent) == (41220091, 15957104, 3014)
    assert (stats.parsing_errors, stats.datatype_mismatch_errors, stats.insert_errors) == (0, 0, 0)
    assert stats.feed_count == {"LOAD_COMPLETED": 4}
    assert stats.failed_feeds == [] and stats.error_logs == []
    assert stats.to_dict()["full_uri"].endswith("/data/")
    assert parse_neptune_status(completed["payload"]) == stats  # without the wrapper
    json.dumps(stats.to_dict())


def test_failed_load_with_feeds_and_error_logs(completed: dict) -> None:
    payload = copy.deepcopy(completed["payload"])
    payload["overallStatus"].update(status="LOAD_FAILED", parsingErrors=2)
    payload["feedCount"] = [{"LOAD_COMPLETED": 3}, {"LOAD_FAILED": 1}]
    payload["failedFeeds"] = [
        {
            "fullUri": "s3://b/d/j/data/x.rq.nt",
            "status": "LOAD_FAILED",
            "totalRecords": 10,
            "parsingErrors": 2,
        }
    ]
    payload["errors"]["errorLogs"] = [
        {
            "errorCode": "PARSING_ERROR",
            "errorMessage": "Expected '<'",
            "fileName": "s3://b/x.nt",
            "recordNum": 7,
        }
    ]
    stats = parse_neptune_status(payload)
    assert stats.job_status is JobStatus.NEPTUNE_LOAD_FAILED
    assert stats.feed_count == {"LOAD_COMPLETED": 3, "LOAD_FAILED": 1}
    assert stats.failed_feeds[0].parsing_errors == 2 and stats.failed_feeds[0].status == "LOAD_FAILED"
    assert stats.error_logs[0].record_num == 7 and stats.error_logs[0].error_code == "PARSING_ERROR"
    assert stats.total_errors == 2
    assert stats.to_dict()["error_logs"][0]["error_message"] == "Expected '<'"


def test_early_status_has_no_counters() -> None:
    stats = parse_neptune_status({"overallStatus": {"status": "LOAD_IN_QUEUE"}})
    assert stats.is_active and stats.total_records is None and stats.total_errors == 0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "payload: expected an object, got array"),
        ({"status": "200 OK"}, "payload.overallStatus: expected an object, got null"),
        ({"overallStatus": {}}, "payload.overallStatus.status: is required"),
        ({"overallStatus": {"status": 1}}, "payload.overallStatus.status: expected a string"),
        (
            {"overallStatus": {"status": "LOAD_COMPLETED", "totalRecords": "10"}},
            "payload.overallStatus.totalRecords: expected a number, got string",
        ),
        (
            {"overallStatus": {"status": "LOAD_COMPLETED"}, "failedFeeds": [{"fullUri": "s3://x"}]},
            "payload.failedFeeds.0.status: is required",
        ),
        (
            {"overallStatus": {"status": "X"}, "errors": {"errorLogs": [{"recordNum": True}]}},
            "payload.errors.errorLogs.0.recordNum: expected a number, got boolean",
        ),
    ],
)
def test_bad_payloads_name_the_field(payload: object, message: str) -> None:
    with pytest.raises(NeptuneStatusError) as info:
        parse_neptune_status(payload)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45, "45 s"), (60, "1 min"), (1621, "27 min 1 s"), (4355, "1 h 12 min"), (3600, "1 h"),
     (90061, "1 d 1 h"), (59.6, "1 min"), (None, "unknown")],
)  # fmt: skip
def test_durations(seconds: float | None, text: str) -> None:
    assert humanize.duration(seconds) == text


def test_counts_bytes_rates() -> None:
    assert humanize.count(510506725) == "510,506,725"
    assert humanize.count(None) == "unknown"
    assert humanize.size_bytes(512) == "512 B"
    assert humanize.size_bytes(1536) == "1.5 KiB"
    assert humanize.size_bytes(80_273_916_922) == "74.8 GiB"
    assert humanize.size_bytes(2**70) == "1,024.0 EiB"
    assert humanize.rate(2009868.996) == "2,009,869 facts/s"
    with pytest.raises(ValueError, match="negative"):
        humanize.duration(-1)
