"""An old job item as a new record: names, keys, times, and the refusals that name the attribute (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rdfox_pipeline.domain.legacy_record import (
    LegacyRecordError,
    map_legacy_item,
    parse_legacy_sort_key,
    parse_legacy_time,
)

BASE = {
    "pk": "DS",
    "sk": "2021-08-01_004",
    "job_id": "DS_2021-08-01_004",
    "job_status": "SCHEDULED",
    "created": "2021-08-01T10:00:00Z",
}


def mapped(**changes) -> dict:
    item = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    return map_legacy_item(item, source_delimiter="_", target_delimiter="_", source_table="old")


def test_minimal_item() -> None:
    assert mapped() == {
        "dataset": "DS",
        "job_key": "2021-08-01_004",
        "job_id": "DS_2021-08-01_004",
        "job_status": "SCHEDULED",
        "created_at": "2021-08-01T10:00:00.000000+00:00",
        "updated_at": "2021-08-01T10:00:00.000000+00:00",  # no updated: the creation time
        "revision": 0,
        "imported_from": "old",
    }


def test_delimiter_change_rewrites_key_and_id() -> None:
    item = {**BASE, "sk": "2021-08-01#004", "job_id": "DS#2021-08-01#004"}
    record = map_legacy_item(item, source_delimiter="#", target_delimiter="_", source_table="old")
    assert (record["job_key"], record["job_id"]) == ("2021-08-01_004", "DS_2021-08-01_004")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal(1627997946), "2021-08-03T13:39:06.000000+00:00"),
        (Decimal(1627997946500), "2021-08-03T13:39:06.500000+00:00"),  # milliseconds
        ("2021-08-03 13:39:06", "2021-08-03T13:39:06.000000+00:00"),  # str(datetime), UTC
        ("2021-08-03T14:39:06+01:00", "2021-08-03T13:39:06.000000+00:00"),
    ],
)
def test_timestamps(value, expected: str) -> None:
    assert parse_legacy_time("created", value) == expected


def test_stored_maps_and_text_both_accepted() -> None:
    record = mapped(
        jobspec={"job_key": "DS"},
        neptune_statistics='{"totalRecords": 5}',
        neptune_statistics_raw={"payload": {"totalTimeSpent": Decimal("1.5")}},
        memory_usage_gigabytes="12.5",
        odd_field=Decimal(1),
    )
    assert record["jobspec"] == {"job_key": "DS"}
    assert record["neptune_stats"] == {"totalRecords": 5}
    assert record["neptune_stats_raw"] == '{"payload": {"totalTimeSpent": 1.5}}'
    assert record["memory_usage_gigabytes"] == Decimal("12.5")
    assert record["legacy_attributes"] == {"odd_field": Decimal(1)}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sk": "2021-08-01_4"}, "sk: '2021-08-01_4' is not <YYYY-MM-DD>_<NNN>"),
        ({"sk": "2021-13-01_004", "job_id": None}, "sk: '2021-13-01_004' has an invalid date"),
        ({"job_id": "DS_2021-08-01_005"}, "job_id: 'DS_2021-08-01_005' does not match pk/sk"),
        ({"job_status": "FINISHED"}, "job_status: unknown job status 'FINISHED'"),
        ({"pk": "D_S", "job_id": None}, "pk: dataset 'D_S' contains the job id delimiter '_'"),
        ({"created": None}, "created/updated: the item has neither timestamp"),
        ({"created": "yesterday"}, "created: 'yesterday' is not an epoch number or ISO 8601 time"),
        ({"jobspec": "{not json"}, "jobspec: not valid JSON text"),
        ({"time_to_load_neptune": "NaN"}, "time_to_load_neptune: 'NaN' is not a number"),
        ({"pod_name": Decimal(3)}, "pod_name: expected a string, got Decimal"),
    ],
)
def test_refusals_name_the_attribute(changes: dict, message: str) -> None:
    with pytest.raises(LegacyRecordError) as error:
        mapped(**changes)
    assert str(error.value).startswith(message)


def test_sort_key_parts() -> None:
    assert parse_legacy_sort_key("2021-08-01--012", "--")[1] == 12
