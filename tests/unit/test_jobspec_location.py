"""Where a run's jobspec is: the jobspec_uri param, or the S3 event behind the asset watcher's event."""

from __future__ import annotations

import json

import pytest
from rdfox_pipeline.operators.job_registration import (
    JobspecLocation,
    JobspecNotFound,
    locations_from_asset_events,
    parse_location,
)

SUFFIX = "rdfoxjob.json"


def _s3_event(bucket: str, key: str, event: str = "ObjectCreated:Put") -> str:
    record = {"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
    return json.dumps({"Records": [record]})


def _asset_event(*bodies: str) -> dict:
    # What the triggerer stores for an SqsSensorTrigger event: extra = {"from_trigger", "payload"}.
    return {
        "extra": {
            "from_trigger": True,
            "payload": {"status": "success", "message_batch": [{"Body": body} for body in bodies]},
        }
    }


def test_parse_location_forms() -> None:
    assert parse_location("s3://in/DS/a.rdfoxjob.json", None) == JobspecLocation("in", "DS/a.rdfoxjob.json")
    assert parse_location(" DS/a.rdfoxjob.json ", "in").uri == "s3://in/DS/a.rdfoxjob.json"
    assert parse_location("DS/a.rdfoxjob.json", "in").dataset_hint == "DS"


@pytest.mark.parametrize(
    ("text", "bucket", "named"),
    [
        ("s3://in", None, "s3://<bucket>/<key>"),
        ("https://example.com/a.json", "in", "not an s3:// URI"),
        ("DS/a.rdfoxjob.json", None, "INPUT_BUCKET"),
    ],
)
def test_parse_location_errors_name_the_problem(text: str, bucket: str | None, named: str) -> None:
    with pytest.raises(JobspecNotFound, match="jobspec_uri") as info:
        parse_location(text, bucket)
    assert named in str(info.value)


def test_asset_event_keys_are_decoded() -> None:
    # moto encodes "/" as %2F; AWS encodes a space as "+": both decode to the real key.
    events = [_asset_event(_s3_event("in", "DS%2Fmy+job.rdfoxjob.json"))]
    assert locations_from_asset_events(events, SUFFIX) == [JobspecLocation("in", "DS/my job.rdfoxjob.json")]


def test_asset_event_through_sns_and_object_form() -> None:
    wrapped = json.dumps({"Type": "Notification", "Message": _s3_event("in", "DS/b.rdfoxjob.json")})

    class Event:  # the task context gives AssetEvent objects with an ``extra`` attribute
        extra = _asset_event(wrapped)["extra"]

    assert locations_from_asset_events([Event()], SUFFIX) == [JobspecLocation("in", "DS/b.rdfoxjob.json")]


def test_test_events_deletions_and_other_files_are_ignored() -> None:
    events = [
        _asset_event(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "in"})),
        _asset_event(_s3_event("in", "DS/gone.rdfoxjob.json", event="ObjectRemoved:Delete")),
        _asset_event(_s3_event("in", "DS/data.nt"), "not json"),
        {"extra": None},
    ]
    assert locations_from_asset_events(events, SUFFIX) == []
