"""How the emulator writes a Get-Status answer: Neptune's documented shapes, chosen per emulator or per test.

The user guide's layout (Get-Status, "Response JSON layout") says ``number`` for every figure; its examples
(Get-Status, "Examples") send ``"totalTimeSpent" : 3.0`` and leave ``startTime`` out of the answer without
``details``. A client must take all of these, so the emulator can send each (``--status-shape`` or
``POST /_emulator/status-shape {"shape": ...}``):

- ``full`` (default): every field, whole numbers (what most answers look like);
- ``documented``: as the user guide's examples: ``totalTimeSpent`` a float, ``startTime`` only with details;
- ``floats``: every figure a JSON float, ``totalTimeSpent`` with its fraction of a second;
- ``sparse``: the optional fields left out: ``status`` and ``fullUri`` only, no ``feedCount``;
- ``extra``: fields this client does not know, on every object (what a newer engine may add).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATUS_SHAPES = ("full", "documented", "floats", "sparse", "extra")
_FIGURES = (
    "runNumber", "retryNumber", "totalRecords", "totalDuplicates", "parsingErrors",
    "datatypeMismatchErrors", "insertErrors",
)  # fmt: skip
_KEPT_WHEN_SPARSE = ("fullUri", "status")


def check_shape(shape: Any) -> str:
    if shape not in STATUS_SHAPES:
        raise ValueError(f"shape: must be one of {', '.join(STATUS_SHAPES)}, got {shape!r}")
    return str(shape)


def _status_object(obj: Mapping[str, Any], shape: str, details: bool) -> dict[str, Any]:
    """One ``overallStatus`` / ``failedFeeds`` entry; ``totalTimeSpent`` arrives in fractional seconds."""
    out = dict(obj)
    seconds = float(out.get("totalTimeSpent") or 0.0)
    if shape == "sparse":
        return {k: out[k] for k in _KEPT_WHEN_SPARSE if k in out}
    if shape == "floats":
        out.update({k: float(out[k]) for k in (*_FIGURES, "startTime") if k in out})
        out["totalTimeSpent"] = round(seconds, 3)
        return out
    if shape == "documented":
        out["totalTimeSpent"] = float(int(seconds))
        if not details:
            out.pop("startTime", None)
        return out
    out["totalTimeSpent"] = int(seconds)
    if shape == "extra":
        out["loadOptionsVersion"] = 2
        out["throughput"] = {"recordsPerSecond": 0}
    return out


def shape_status(payload: Mapping[str, Any], shape: str, *, details: bool) -> dict[str, Any]:
    """The answer's ``payload`` in ``shape`` (the emulator builds it once, in the ``full`` layout)."""
    out = dict(payload)
    out["overallStatus"] = _status_object(payload["overallStatus"], shape, details)
    if "failedFeeds" in out:
        out["failedFeeds"] = [_status_object(feed, shape, details) for feed in out["failedFeeds"]]
    if shape == "sparse":
        out.pop("feedCount", None)
    if shape == "extra":
        out["engineNotes"] = ["fields a newer Neptune engine may add"]
        if "errors" in out:
            out["errors"] = {**out["errors"], "pageSize": len(out["errors"].get("errorLogs") or [])}
    return out
