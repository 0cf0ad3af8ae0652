"""``python -m bench [--quick] [MODULE ...]``: run every bench module, print ONE table, write
``bench/results.json`` and ``bench/results.png``, and compare each figure with its goal.

THE CONTRACT FOR A BENCH MODULE (``bench/<name>.py``; e.g. neptune_load.py, reasoner.py are written by others)
-------------------------------------------------------------------------------------------------------------
* Expose ``run(quick: bool = False)``. ``quick=True`` (``python -m bench --quick``) means "small sizes, a few
  seconds, for smoke tests"; the full run is what ``make bench`` reports. A ``run()`` without the ``quick``
  parameter is also accepted (it is then called with no argument).
* Return a ``list`` of figure dicts, or a ``dict`` with ``"figures": [...]`` plus any details you want kept in
  results.json. Build each figure with ``bench.figure(name, measured, unit=..., goal=..., op="<="|">=",
  reason=..., **details)``, which decides ``met`` the same way for everybody. Keys of a figure:
  ``name`` (str, unique in the table), ``measured`` (float | None), ``unit`` (str), ``goal`` (float | None),
  ``op`` ("<=" or ">="), ``met`` (bool | None), optional ``reason``/``note`` (str) and any extra details.
  The aliases ``value`` (for ``measured``) and ``note`` (for ``reason``) are accepted as well.
* Ratios measured in ONE run on this machine (e.g. emulator load rate / raw pyoxigraph rate) are preferred to
  absolute speeds, so the figure does not depend on the machine.
* A figure that could not be measured has ``measured=None`` and a ``reason``: never fake a number.
* Do the work inside ``run()`` (importing the module must be cheap and do no I/O); clean up what you start.
* Every ``bench/*.py`` not starting with ``_`` that has a ``run()`` is picked up automatically. A module that
  raises is shown as "not measured" with the error as the reason: one broken bench must not hide the others.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import platform
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import figure

BENCH_DIR = Path(__file__).resolve().parent
# Cheap, self-contained figures first; the deferral bench (minutes, many processes) last.
PREFERRED_ORDER = ("dag_parse", "log_parse", "neptune_load", "reasoner", "deferral")


def discover() -> list[str]:
    names = [p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_")]
    rank = {name: i for i, name in enumerate(PREFERRED_ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _figures_of(module: str, result: Any) -> list[dict[str, Any]]:
    """Normalise what a module returned into figure dicts (tolerant: several people write modules)."""
    if isinstance(result, Mapping) and isinstance(result.get("figures"), list):
        items = result["figures"]
    elif isinstance(result, Mapping) and "name" in result:
        items = [result]
    elif isinstance(result, list):
        items = result
    else:
        return [figure(module, None, reason=f"run() returned no figures: {str(result)[:200]}")]
    out = []
    for item in items:
        item = dict(item)
        if "measured" not in item and "value" in item:  # accepted alias (see the contract above)
            item["measured"] = item.pop("value")
        if "reason" not in item and item.get("note"):
            item["reason"] = item["note"]
        item.setdefault("name", module)
        item.setdefault("measured", None)
        item.setdefault("unit", "")
        item.setdefault("goal", None)
        item.setdefault("op", "<=")
        if "met" not in item:
            m, g = item["measured"], item["goal"]
            if isinstance(m, int | float) and isinstance(g, int | float):
                item["met"] = m <= g if item["op"] == "<=" else m >= g
            else:
                item["met"] = None
        item["module"] = module
        out.append(item)
    return out


def _call_run(module: Any, quick: bool) -> Any:
    """Call ``run(quick=...)`` when the module takes it, else ``run()`` (both are within the contract)."""
    try:
        takes_quick = "quick" in inspect.signature(module.run).parameters
    except (TypeError, ValueError):
        takes_quick = False
    return module.run(quick=quick) if takes_quick else module.run()


def run_modules(names: Iterable[str], quick: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            if not hasattr(module, "run"):
                continue
            result = _call_run(module, quick)
        except Exception as exc:  # one broken module must not hide the rest of the table
            traceback.print_exc()
            result = {"figures": [figure(name, None, reason=f"{type(exc).__name__}: {exc}"[:300])]}
        elapsed = time.perf_counter() - started
        figures += _figures_of(name, result)
        details[name] = {"seconds": round(elapsed, 1), "result": result}
        print(f"[bench] {name} done in {elapsed:.1f} s", file=sys.stderr, flush=True)
    return figures, details


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def table(figures: Sequence[Mapping[str, Any]]) -> str:
    """One row per figure; a figure not measured, or not meeting its goal, says why in the last column."""
    rows = [("figure", "measured", "goal", "met?", "why (when not measured or not met)")]
    for f in figures:
        goal = "-" if f.get("goal") is None else f"{f['op']} {_fmt(f['goal'], f.get('unit', ''))}"
        met = {True: "yes", False: "NO", None: "-"}[f.get("met")]
        measured = _fmt(f.get("measured"), f.get("unit", ""))
        why = str(f.get("reason") or "") if f.get("met") is not True else ""
        rows.append((str(f["name"]), measured, goal, met, why))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, r in enumerate(rows):
        line = f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}"
        lines.append(line.rstrip())
        if i == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def chart(figures: Sequence[Mapping[str, Any]], path: Path) -> None:
    """One bar per measured figure with a goal, as measured/goal: < 1 meets a "<=" goal, > 1 a ">="."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [f for f in figures if f.get("measured") is not None and f.get("goal")]
    fig, ax = plt.subplots(figsize=(9, 0.6 * max(len(shown), 1) + 1.5))
    labels = [f"{f['name']} ({f['op']} {_fmt(f['goal'], f.get('unit', ''))})" for f in shown]
    values = [float(f["measured"]) / float(f["goal"]) for f in shown]
    colours = ["tab:green" if f.get("met") else "tab:red" for f in shown]
    ax.barh(labels, values, color=colours)
    ax.axvline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_xlabel("measured / goal  (green: goal met; dashed line: the goal)")
    ax.set_title(f"rdfox-pipeline benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", loc="right")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("modules", nargs="*", help="bench modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not the report")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results.json/results.png go")
    args = parser.parse_args(argv)
    names = args.modules or discover()
    figures, details = run_modules(names, quick=args.quick)
    print(table(figures))
    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
        "figures": figures,
        "details": details,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    chart(figures, args.out / "results.png")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.png'}", file=sys.stderr)
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
