"""The old job table's statistics fields from the reference run's log and Neptune status (pure)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from rdfox_pipeline.aws.dynamo_values import to_dynamo
from rdfox_pipeline.domain.legacy_stats import (
    memory_usage_gigabytes,
    rdfox_statistics_raw,
    time_to_load_neptune,
)
from rdfox_pipeline.domain.rdfox_log import parse_rdfox_log


@pytest.fixture(scope="module")
def reference_stats(reference_dir: Path):
    return parse_rdfox_log((reference_dir / "rdfox-5-reference-run.log").read_text())


def test_raw_statistics_carry_the_logs_own_names(reference_stats) -> None:
    raw = rdfox_statistics_raw(reference_stats)
    assert raw == {
        # 19:41:03|19:45:17, 19:45:17|20:12:18, 20:12:18|21:24:53, 19:41:03|20:12:18 (the log's own TOTALTIME)
        "LOADTIME": 254,
        "INFERENCETIME": 1621,
        "QUERYTIME": 4355,
        "TOTALTIME": 1875,
        "Aggregate number of EDB facts": 510_506_725,
        "Aggregate number of IDB facts": 787_421_291,
        "Bytes per entry": Decimal("101.891"),
        "Aggregate size": 80_273_916_922,
        "partialChainCount": 1337,
        "fullChainCount": 2667,
        "Number of returned tuples": {"extract1.rq": 15_157_104, "extract3.rq": 1_659_850_615},
    }
    # The same from the stored dict form, and DynamoDB takes it as it is (no float anywhere).
    assert rdfox_statistics_raw(reference_stats.to_dict()) == raw
    stored, _ = to_dynamo("rdfox_statistics_raw", raw)
    assert stored["Bytes per entry"] == Decimal("101.891")


def test_figures_the_log_did_not_give_are_absent_not_zero(reference_stats) -> None:
    partial = {**reference_stats.to_dict(), "time_query": None, "memory_usage": None, "counts": {}}
    partial["query_answers"] = {}
    raw = rdfox_statistics_raw(partial)
    assert "QUERYTIME" not in raw and "Aggregate size" not in raw and "partialChainCount" not in raw
    assert "Number of returned tuples" not in raw
    assert memory_usage_gigabytes(partial) is None


def test_memory_in_decimal_gigabytes(reference_stats) -> None:
    # RDFox prints "80,273,916,922 ( 80.2 G)": decimal giga, here with three places.
    assert memory_usage_gigabytes(reference_stats) == Decimal("80.274")
    assert memory_usage_gigabytes({"memory_usage": 1_500_000}) == Decimal("0.002")


def test_bad_figures_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"counts.fooCount: expected a number, got str"):
        rdfox_statistics_raw({"time_total": 1, "counts": {"fooCount": "12"}})
    with pytest.raises(TypeError, match=r"expected parsed rdfox\.log statistics"):
        rdfox_statistics_raw([1, 2])


def test_time_to_load_neptune_from_the_reference_status(reference_dir: Path) -> None:
    payload = json.loads((reference_dir / "neptune-loader-status-completed.json").read_text())
    assert time_to_load_neptune(payload) == 3014
    assert time_to_load_neptune(payload["payload"]) == 3014  # without the wrapper


@pytest.mark.parametrize(
    ("overall", "expected"),
    [
        ({"totalTimeSpent": 12.5}, Decimal("12.5")),  # Neptune may send floats
        ({"totalTimeSpent": 7.0}, 7),
        ({"status": "LOAD_FAILED"}, None),
        ({"totalTimeSpent": None}, None),
    ],
)
def test_time_to_load_neptune_forms(overall: dict, expected) -> None:
    assert time_to_load_neptune({"overallStatus": overall}) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [(-1, "expected seconds >= 0"), (True, "expected a number, got bool"), ("3", "got str")],
)
def test_time_to_load_neptune_refuses_nonsense(value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        time_to_load_neptune({"overallStatus": {"totalTimeSpent": value}})
