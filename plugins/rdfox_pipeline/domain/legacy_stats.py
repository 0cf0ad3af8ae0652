"""The old job table's statistics fields, computed from today's parsed figures (pure).

Readers of the old system's job table look for ``rdfox_statistics_raw``, ``memory_usage_gigabytes`` and
``time_to_load_neptune``. The record keeps today's ``rdfox_stats`` / ``neptune_stats`` and gets these beside
them. In ``rdfox_statistics_raw`` every figure goes under the rdfox.log's own label or marker (what the old
parser named them); only figures the log gave are present, never a zero standing in for a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

# InferenceStats field -> the label (or marker) the figure has in rdfox.log (RDFox 5's ``info`` names; an
# RDFox 7 log's fact-count queries give the same quantities, so they go under the same names).
RDFOX_RAW_NAMES: Mapping[str, str] = {
    "time_to_load": "LOADTIME",
    "time_to_infer": "INFERENCETIME",
    "time_query": "QUERYTIME",
    "time_total": "TOTALTIME",
    "triples_input_amount": "Aggregate number of EDB facts",
    "triples_total_amount": "Aggregate number of IDB facts",
    "triples_avg_size": "Bytes per entry",
    "memory_usage": "Aggregate size",
}
# Per-query answer counts, by query file name: the label RDFox 5 printed under each answer.
QUERY_ANSWERS_NAME = "Number of returned tuples"

_GIGABYTE = Decimal(10**9)  # RDFox's own "(80.2 G)" is decimal: 80,273,916,922 bytes
_GB_PLACES = Decimal("0.001")


def _as_mapping(stats: Any) -> Mapping[str, Any]:
    if isinstance(stats, Mapping):
        return stats
    to_dict = getattr(stats, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"expected parsed rdfox.log statistics, got {type(stats).__name__}")


def _number(value: Any, name: str) -> int | Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    if isinstance(value, int):
        return value
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return int(number) if number == number.to_integral_value() else number


def rdfox_statistics_raw(stats: Any) -> dict[str, Any]:
    """The log's figures under the log's own names (``LOADTIME`` ... ``partialChainCount``); DynamoDB-safe.

    ``stats`` is ``InferenceStats`` or its ``to_dict()``. Running counts (``<name>Count`` answers) keep their
    CSV header as name; query answer counts sit in a map under ``Number of returned tuples``.
    """
    data = _as_mapping(stats)
    raw: dict[str, Any] = {}
    for ours, label in RDFOX_RAW_NAMES.items():
        if data.get(ours) is not None:
            raw[label] = _number(data[ours], ours)
    for name, value in (data.get("counts") or {}).items():
        raw[str(name)] = _number(value, f"counts.{name}")
    answers = data.get("query_answers") or {}
    if answers:
        raw[QUERY_ANSWERS_NAME] = {str(q): _number(n, f"query_answers.{q}") for q, n in answers.items()}
    return raw


def memory_usage_gigabytes(stats: Any) -> Decimal | None:
    """The log's memory estimate (``Aggregate size``) in decimal gigabytes, 3 places; None if not logged."""
    size = _as_mapping(stats).get("memory_usage")
    if size is None:
        return None
    return (Decimal(_number(size, "memory_usage")) / _GIGABYTE).quantize(_GB_PLACES)


def time_to_load_neptune(payload: Mapping[str, Any]) -> int | Decimal | None:
    """Seconds the Neptune load took: the loader status's ``overallStatus.totalTimeSpent`` (None if absent).

    Accepts the answer with or without its ``{"status", "payload"}`` wrapper; Neptune may send a float.
    """
    data = payload
    if "overallStatus" not in data and isinstance(data.get("payload"), Mapping):
        data = data["payload"]
    overall = data.get("overallStatus")
    if not isinstance(overall, Mapping) or overall.get("totalTimeSpent") is None:
        return None
    seconds = _number(overall["totalTimeSpent"], "overallStatus.totalTimeSpent")
    if seconds < 0:
        raise ValueError(f"overallStatus.totalTimeSpent: expected seconds >= 0, got {seconds}")
    return seconds
