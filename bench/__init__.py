"""Benchmarks (`python -m bench`, `make bench`). The contract every ``bench/<name>.py`` follows is written
at the top of ``bench/__main__.py``: ``run(quick: bool = False)`` returning figure dicts built with
:func:`figure` (a list, or a dict with ``"figures"`` plus details kept in ``bench/results.json``). A figure
that could not be measured has ``measured = None`` and a ``reason``: it is never faked.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

GOAL_OPS = ("<=", ">=")


def figure(
    name: str,
    measured: float | None,
    *,
    unit: str = "",
    goal: float | None = None,
    op: str = "<=",
    reason: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """One figure of the table: ``met`` is decided here so that every module judges goals the same way."""
    if op not in GOAL_OPS:
        raise ValueError(f"op must be one of {GOAL_OPS}, got {op!r}")
    met: bool | None = None
    if measured is not None and goal is not None:
        met = measured <= goal if op == "<=" else measured >= goal
    out: dict[str, Any] = {"name": name, "measured": measured, "unit": unit, "goal": goal, "op": op}
    out["met"] = met
    if reason:
        out["reason"] = reason
    out.update(details)
    return out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
