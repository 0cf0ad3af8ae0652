"""Conversion between plain JSON-able Python values and what DynamoDB stores (Decimal, no floats).

Kept apart from the hook because it is pure: the same rules decide what a job record looks like in DynamoDB,
what callers get back, and how large a field is when deciding to keep it out of the item.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


def _json_default(value: Any) -> Any:
    # Parsed statistics arrive as pydantic models or dataclasses; store what they say, not how they are built.
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "to_json_dict"):
        return value.to_json_dict()
    if hasattr(value, "to_dict") and callable(value.to_dict):  # InferenceStats, NeptuneStats
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def to_json_text(field: str, value: Any) -> str:
    """Canonical JSON text of a field value; one clear error naming the field when it cannot be stored."""
    try:
        return json.dumps(value, default=_json_default, allow_nan=False, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"job record field {field!r} cannot be stored: {exc}") from None


def to_dynamo(field: str, value: Any) -> tuple[Any, int]:
    """The DynamoDB-ready form of ``value`` (floats as Decimal) and its approximate stored size in bytes."""
    text = to_json_text(field, value)
    return json.loads(text, parse_float=Decimal), len(text.encode("utf-8"))


def from_dynamo(value: Any) -> Any:
    """DynamoDB values back to plain JSON-able Python (Decimal -> int or float, sets -> sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): from_dynamo(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(from_dynamo(v) for v in value)
    if isinstance(value, list | tuple):
        return [from_dynamo(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if hasattr(value, "value") and type(value).__name__ == "Binary":  # boto3.dynamodb.types.Binary
        return bytes(value.value).decode("utf-8", errors="replace")
    return value
