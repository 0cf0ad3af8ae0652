"""``python -m bench [MODULE ...]``: run every bench module, print ONE table, write results.json and a chart.

Every ``bench/*.py`` with a ``run()`` is a bench module (others may add theirs). A module that raises is shown
as "not measured" with the error as the reason: one broken bench must not hide the others' figures.
"""

from __future__ import annotations

import argparse
import importlib
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
    """Normalise what a module returned into figure dicts (tolerant: modules are written by several people)."""
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


def run_modules(names: Iterable[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            if not hasattr(module, "run"):
                continue
            result = module.run()
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
    rows = [("figure", "measured", "goal", "met?")]
    for f in figures:
        goal = "-" if f.get("goal") is None else f"{f['op']} {_fmt(f['goal'], f.get('unit', ''))}"
        met = {True: "yes", False: "NO", None: "-"}[f.get("met")]
        measured = _fmt(f.get("measured"), f.get("unit", ""))
        if f.get("measured") is None and f.get("reason"):
            measured += f" ({f['reason']})"
        rows.append((str(f["name"]), measured, goal, met))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for i, r in enumerate(rows):
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
        if i == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def chart(figures: Sequence[Mapping[str, Any]], path: Path) -> None:
    """One bar per measured figure with a goal, as measured/goal: below 1 meets a "<=" goal, above 1 a ">="."""
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
    ax.set_title(f"rdfox-pipeline benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("modules", nargs="*", help="bench modules to run (default: all)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results.json/results.png go")
    args = parser.parse_args(argv)
    names = args.modules or discover()
    figures, details = run_modules(names)
    print(table(figures))
    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
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
