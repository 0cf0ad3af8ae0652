"""Numbers in human units for notifications: "27 min 1 s", "510,506,725", "74.8 GiB"."""

from __future__ import annotations

UNKNOWN = "unknown"
_BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def duration(seconds: float | None) -> str:
    """Two most significant units: ``"45 s"``, ``"27 min 1 s"``, ``"1 h 12 min"``, ``"2 d 3 h"``."""
    if seconds is None:
        return UNKNOWN
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds}")
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    major, minor = parts[0], parts[1] if len(parts) > 1 else None
    text = f"{major[0]} {major[1]}"
    if minor and minor[0]:
        text += f" {minor[0]} {minor[1]}"
    return text


def count(value: int | None) -> str:
    """``510506725`` -> ``"510,506,725"``."""
    return UNKNOWN if value is None else f"{value:,}"


def size_bytes(value: int | None) -> str:
    """Binary units with one decimal: ``80273916922`` -> ``"74.8 GiB"``; below 1 KiB in bytes."""
    if value is None:
        return UNKNOWN
    if value < 0:
        raise ValueError(f"a size cannot be negative, got {value}")
    if value < 1024:
        return f"{value} B"
    amount = float(value)
    for unit in _BYTE_UNITS:
        amount /= 1024
        if amount < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{amount:,.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def rate(value: float | None, unit: str = "facts/s") -> str:
    """``2009868.996`` -> ``"2,009,869 facts/s"``."""
    return UNKNOWN if value is None else f"{round(value):,} {unit}"
