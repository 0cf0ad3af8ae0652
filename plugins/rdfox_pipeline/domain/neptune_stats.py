"""Neptune bulk-loader status (GET /loader/{loadId}?details=true&errors=true) -> NeptuneStats."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from rdfox_pipeline.domain.statuses import (
    NEPTUNE_ACTIVE_LOAD_STATUSES,
    NEPTUNE_TERMINAL_OK,
    JobStatus,
    neptune_job_status,
)
from rdfox_pipeline.domain.validators import json_type_name

# Neptune documents every figure as "number" and its examples send floats (``"totalTimeSpent" : 3.0``).
Number = int | float


class NeptuneStatusError(ValueError):
    """The payload is not a loader status; ``str()`` names the field: ``"<path>: <what is wrong>"``."""


@dataclass(frozen=True)
class FeedStats:
    """One feed (a file or prefix Neptune loaded), as listed under ``failedFeeds``."""

    full_uri: str | None
    status: str
    total_records: int | None = None
    total_duplicates: int | None = None
    parsing_errors: int | None = None
    datatype_mismatch_errors: int | None = None
    insert_errors: int | None = None
    total_time_spent: Number | None = None
    start_time: Number | None = None


@dataclass(frozen=True)
class ErrorLogEntry:
    error_code: str | None
    error_message: str | None
    file_name: str | None
    record_num: int | None


@dataclass(frozen=True)
class NeptuneStats:
    status: str
    load_id: str | None = None
    full_uri: str | None = None
    run_number: int | None = None
    retry_number: int | None = None
    start_time: Number | None = None  # epoch seconds, as Neptune reports it
    total_time_spent: Number | None = None  # seconds; the user guide's own example sends 3.0
    total_records: int | None = None
    total_duplicates: int | None = None
    parsing_errors: int | None = None
    datatype_mismatch_errors: int | None = None
    insert_errors: int | None = None
    feed_count: dict[str, int] = field(default_factory=dict)
    failed_feeds: list[FeedStats] = field(default_factory=list)
    error_logs: list[ErrorLogEntry] = field(default_factory=list)

    @property
    def job_status(self) -> JobStatus:
        return neptune_job_status(self.status)

    @property
    def is_active(self) -> bool:
        return self.status in NEPTUNE_ACTIVE_LOAD_STATUSES

    @property
    def is_completed(self) -> bool:
        return self.status == NEPTUNE_TERMINAL_OK

    @property
    def start_time_iso(self) -> str | None:
        if self.start_time is None:
            return None
        return datetime.fromtimestamp(self.start_time, tz=UTC).isoformat()

    @property
    def total_errors(self) -> int:
        return sum(n or 0 for n in (self.parsing_errors, self.datatype_mismatch_errors, self.insert_errors))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start_time_iso"] = self.start_time_iso
        return out


def _field(data: Mapping[str, Any], key: str, path: str, kind: Any, *, required: bool = False) -> Any:
    if key not in data or data[key] is None:
        if required:
            raise NeptuneStatusError(f"{path}.{key}: is required")
        return None
    value = data[key]
    if kind is Number:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise NeptuneStatusError(f"{path}.{key}: expected a number, got {json_type_name(value)}")
        # Whole floats (3014.0) as int; a fraction of a second is kept.
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if isinstance(value, bool) or not isinstance(value, kind):
        raise NeptuneStatusError(f"{path}.{key}: expected a string, got {json_type_name(value)}")
    return value


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise NeptuneStatusError(f"{path}: expected an object, got {json_type_name(value)}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise NeptuneStatusError(f"{path}: expected an array, got {json_type_name(value)}")
    return value


_COUNTERS = {
    "total_records": "totalRecords",
    "total_duplicates": "totalDuplicates",
    "parsing_errors": "parsingErrors",
    "datatype_mismatch_errors": "datatypeMismatchErrors",
    "insert_errors": "insertErrors",
    "total_time_spent": "totalTimeSpent",
    "start_time": "startTime",
}


def _feed(data: Any, path: str) -> FeedStats:
    data = _mapping(data, path)
    return FeedStats(
        full_uri=_field(data, "fullUri", path, str),
        status=_field(data, "status", path, str, required=True),
        **{ours: _field(data, theirs, path, Number) for ours, theirs in _COUNTERS.items()},
    )


def _error_entry(data: Any, path: str) -> ErrorLogEntry:
    data = _mapping(data, path)
    return ErrorLogEntry(
        error_code=_field(data, "errorCode", path, str),
        error_message=_field(data, "errorMessage", path, str),
        file_name=_field(data, "fileName", path, str),
        record_num=_field(data, "recordNum", path, Number),
    )


def parse_neptune_status(payload: Mapping[str, Any]) -> NeptuneStats:
    """Parse the loader's status answer, with or without the outer ``{"status", "payload"}`` wrapper."""
    path = "payload"
    data = _mapping(payload, path)
    if "overallStatus" not in data and isinstance(data.get("payload"), Mapping):
        data = data["payload"]
    overall = _mapping(data.get("overallStatus"), f"{path}.overallStatus")
    opath = f"{path}.overallStatus"
    feed_count: dict[str, int] = {}
    for index, entry in enumerate(_list(data.get("feedCount"), f"{path}.feedCount")):
        for status, count in _mapping(entry, f"{path}.feedCount.{index}").items():
            feed_count[status] = feed_count.get(status, 0) + _field(
                {status: count}, status, f"{path}.feedCount.{index}", Number, required=True
            )
    errors = _mapping(data.get("errors") or {}, f"{path}.errors")
    error_logs = [
        _error_entry(raw, f"{path}.errors.errorLogs.{i}")
        for i, raw in enumerate(_list(errors.get("errorLogs"), f"{path}.errors.errorLogs"))
    ]
    failed = [
        _feed(raw, f"{path}.failedFeeds.{i}")
        for i, raw in enumerate(_list(data.get("failedFeeds"), f"{path}.failedFeeds"))
    ]
    return NeptuneStats(
        status=_field(overall, "status", opath, str, required=True),
        load_id=_field(errors, "loadId", f"{path}.errors", str) or _field(data, "loadId", path, str),
        full_uri=_field(overall, "fullUri", opath, str),
        run_number=_field(overall, "runNumber", opath, Number),
        retry_number=_field(overall, "retryNumber", opath, Number),
        feed_count=feed_count,
        failed_feeds=failed,
        error_logs=error_logs,
        **{ours: _field(overall, theirs, opath, Number) for ours, theirs in _COUNTERS.items()},
    )
