"""An item of the old system's job table as a record of today's table (pure; used by ``jobs import-legacy``).

Old item: hash key ``pk`` = dataset, range key ``sk`` = ``<YYYY-MM-DD><d><NNN>``, the old attribute names.
New record: ``dataset`` / ``job_key`` with the same values (the sort key re-written with today's delimiter),
today's field names (``FIELD_MAP``). Attributes the map does not know are kept, unchanged, under
``legacy_attributes``. Anything that cannot be mapped faithfully raises ``LegacyRecordError`` naming the
attribute, and the item is skipped with that reason: nothing is guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from rdfox_pipeline.domain.job_ids import JobId
from rdfox_pipeline.domain.statuses import parse_job_status

# old attribute -> today's field
FIELD_MAP: Mapping[str, str] = {
    "pk": "dataset",
    "sk": "job_key",
    "job_id": "job_id",
    "job_status": "job_status",
    "jobspec": "jobspec",
    "created": "created_at",
    "updated": "updated_at",
    "pod_name": "pod_name",
    "worker_node_type": "worker_node_type",
    "neptune_load_id": "neptune_load_id",
    "neptune_statistics_raw": "neptune_stats_raw",
    "neptune_statistics": "neptune_stats",
    "rdfox_statistics_raw": "rdfox_statistics_raw",
    "rdfox_statistics": "rdfox_stats",
    "neptune_writer_instance": "neptune_writer_instance",
    "memory_usage_gigabytes": "memory_usage_gigabytes",
    "time_to_load_neptune": "time_to_load_neptune",
    "error_reason": "error_reason",
}
EXTRA_FIELD = "legacy_attributes"
IMPORTED_FROM_FIELD = "imported_from"
_TEXT_FIELDS = ("pod_name", "worker_node_type", "neptune_load_id", "neptune_writer_instance", "error_reason")
_NUMBER_FIELDS = ("memory_usage_gigabytes", "time_to_load_neptune")
_SEQ_RE = re.compile(r"^\d{3}$")
_EPOCH_MS_FROM = 10**11  # a larger epoch number is milliseconds (10**11 s is the year 5138)


class LegacyRecordError(ValueError):
    """The old item cannot be mapped; ``str()`` names the attribute and what is wrong."""


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise LegacyRecordError(f"{name}: expected a non-empty string, got {value!r}")
    return value


def parse_legacy_sort_key(sk: str, delimiter: str) -> tuple[date, int]:
    """``2021-08-01_000`` -> (day, seq); the old format exactly (ten-character date, three digits)."""
    day_text, sep, seq_text = sk[:10], sk[10 : 10 + len(delimiter)], sk[10 + len(delimiter) :]
    if sep != delimiter or not _SEQ_RE.match(seq_text):
        raise LegacyRecordError(f"sk: {sk!r} is not <YYYY-MM-DD>{delimiter}<NNN>")
    try:
        return date.fromisoformat(day_text), int(seq_text)
    except ValueError:
        raise LegacyRecordError(f"sk: {sk!r} has an invalid date {day_text!r}") from None


def parse_legacy_time(name: str, value: Any) -> str:
    """An old timestamp (epoch seconds or milliseconds, or ISO 8601; no zone = UTC) in today's form."""
    try:
        if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
            seconds = float(value)
            moment = datetime.fromtimestamp(seconds / 1000 if seconds >= _EPOCH_MS_FROM else seconds, tz=UTC)
        elif isinstance(value, str) and value.strip():
            moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)  # the old Lambdas ran in UTC
        else:
            raise ValueError("not a timestamp")
    except (ValueError, OverflowError, OSError):
        raise LegacyRecordError(f"{name}: {value!r} is not an epoch number or ISO 8601 time") from None
    # Today's fixed-width form: the status index sorts updated_at as text.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _json_value(name: str, value: Any) -> Any:
    """A JSON text attribute as its value; a map (some writers stored one) as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value, parse_float=Decimal)
        except ValueError as exc:
            raise LegacyRecordError(f"{name}: not valid JSON text ({exc})") from None
    if isinstance(value, Mapping):
        return dict(value)
    raise LegacyRecordError(f"{name}: expected JSON text or a map, got {type(value).__name__}")


def _plain_number(value: Any) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json_text(name: str, value: Any) -> str:
    """Today's ``neptune_stats_raw`` is JSON text: a stored map becomes canonical text."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list):
        try:
            return json.dumps(value, sort_keys=True, default=_plain_number)
        except TypeError as exc:
            raise LegacyRecordError(f"{name}: cannot be written as JSON text ({exc})") from None
    raise LegacyRecordError(f"{name}: expected JSON text or a map, got {type(value).__name__}")


def _number(name: str, value: Any) -> Decimal:
    """A number attribute (some writers stored numbers as text) as a finite Decimal."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise ArithmeticError
        number = Decimal(value.strip() if isinstance(value, str) else value)
        if not number.is_finite():
            raise ArithmeticError
    except ArithmeticError:
        raise LegacyRecordError(f"{name}: {value!r} is not a number") from None
    return number


def map_legacy_item(
    item: Mapping[str, Any], *, source_delimiter: str, target_delimiter: str, source_table: str
) -> dict[str, Any]:
    """The new record for one old item (values as boto3's deserializer gives them: Decimal numbers)."""
    dataset = _text(item, "pk")
    if target_delimiter in dataset:
        raise LegacyRecordError(f"pk: dataset {dataset!r} contains the job id delimiter {target_delimiter!r}")
    day, seq = parse_legacy_sort_key(_text(item, "sk"), source_delimiter)
    job = JobId(dataset, day, seq)
    expected_old_id = job.format(source_delimiter)
    if "job_id" in item and item["job_id"] != expected_old_id:
        raise LegacyRecordError(f"job_id: {item['job_id']!r} does not match pk/sk ({expected_old_id!r})")
    try:
        status = parse_job_status(_text(item, "job_status")).value
    except ValueError as exc:
        raise LegacyRecordError(f"job_status: {exc}") from None

    times = {
        new: parse_legacy_time(old, item[old])
        for old, new in (("created", "created_at"), ("updated", "updated_at"))
        if item.get(old) is not None
    }
    if not times:
        raise LegacyRecordError("created/updated: the item has neither timestamp")
    record: dict[str, Any] = {
        "dataset": dataset,
        "job_key": job.sort_key(target_delimiter),
        "job_id": job.format(target_delimiter),
        "job_status": status,
        "created_at": times.get("created_at", times.get("updated_at")),
        "updated_at": times.get("updated_at", times.get("created_at")),
        "revision": 0,
        IMPORTED_FROM_FIELD: source_table,
    }
    if item.get("jobspec") is not None:
        record["jobspec"] = _json_value("jobspec", item["jobspec"])
    for old in ("neptune_statistics", "rdfox_statistics", "rdfox_statistics_raw"):
        if item.get(old) is not None:
            record[FIELD_MAP[old]] = _json_value(old, item[old])
    if item.get("neptune_statistics_raw") is not None:
        record["neptune_stats_raw"] = _json_text("neptune_statistics_raw", item["neptune_statistics_raw"])
    for name in _TEXT_FIELDS:
        if item.get(name) is not None:
            if not isinstance(item[name], str):
                raise LegacyRecordError(f"{name}: expected a string, got {type(item[name]).__name__}")
            record[name] = item[name]
    for name in _NUMBER_FIELDS:
        if item.get(name) is not None:
            record[name] = _number(name, item[name])
    extra = {k: v for k, v in item.items() if k not in FIELD_MAP}
    if extra:
        record[EXTRA_FIELD] = extra
    return record
