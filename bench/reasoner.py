"""The local reasoner on the sample rules (include/samples/*.dlog) over generated transactions.

Figures: derived facts per second (semi-naive, 20,000 transactions; 2,000 with ``--quick``), the speed-up of
semi-naive over naive evaluation measured in this one run (a ratio, so it does not depend on the machine),
the peak memory of the reasoning process, and the materialisation time at the demo's size (2,000
transactions). Each evaluation runs in its own process so that its peak RSS is its own; both modes must
derive the same facts or no figure is reported. Times are the materialisation's CPU seconds (the engine is
single-threaded, so uncontended they equal wall-clock; on a shared machine they are the stable measure);
wall-clock seconds are kept in the details as ``wall_s``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import figure

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "include" / "samples"
FULL_TRANSACTIONS, QUICK_TRANSACTIONS, DEMO_TRANSACTIONS = 20_000, 2_000, 2_000
SEED = 1
GOAL_FACTS_PER_S = 10_000.0  # pure Python: RDFox does millions; this only guards against regressions
GOAL_SPEEDUP = 1.2  # "measurably faster": semi-naive must beat naive by at least 20 %
GOAL_PEAK_MB = 2048.0  # half of the sample jobspec's 4Gi pod
GOAL_DEMO_S = 5.0  # the demo (2,000 transactions) reasons in a few seconds


def _generate(directory: Path, transactions: int) -> Path:
    from rdfox_local.samplegen import SampleOptions, write_sample

    (path,) = write_sample(directory, SampleOptions(transactions=transactions, seed=SEED))
    return path


def _child(mode: str, data: str) -> None:
    """In a fresh process: load rules and data, materialise, print one JSON line of measurements."""
    from rdfox_local.reasoner.datastore import DataStore

    store = DataStore("bench", mode=mode)  # type: ignore[arg-type]
    for rules in sorted(SAMPLES.glob("*.dlog")):
        store.import_rules(rules, rules.name, {})
    started = time.perf_counter()
    store.import_data(Path(data), Path(data).name)
    load_s = time.perf_counter() - started
    cpu_started = time.process_time()
    stats = store.materialise()
    cpu_s = time.process_time() - cpu_started
    print(
        json.dumps(
            {
                "mode": mode,
                "load_s": load_s,
                "wall_s": stats.seconds,
                "seconds": cpu_s,
                "derived": stats.derived,
                "derivations": stats.derivations,
                "rounds": stats.rounds,
                "edb": store.edb_count,
                "total": store.idb_count,
                "bytes_per_fact": store.facts.memory_bytes() / max(store.idb_count, 1),
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def _measure(mode: str, data: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.reasoner", "--child", mode, str(data)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict[str, Any]:
    transactions = QUICK_TRANSACTIONS if quick else FULL_TRANSACTIONS
    label = f"{transactions:,} tx"
    with tempfile.TemporaryDirectory(prefix="bench-reasoner-") as scratch:
        data = _generate(Path(scratch) / "main", transactions)
        semi = _measure("semi-naive", data)
        naive = _measure("naive", data)
        demo = (
            semi
            if transactions == DEMO_TRANSACTIONS
            else _measure("semi-naive", _generate(Path(scratch) / "demo", DEMO_TRANSACTIONS))
        )
    details = {"transactions": transactions, "semi_naive": semi, "naive": naive, "demo": demo}
    if semi["total"] != naive["total"] or semi["derived"] != naive["derived"]:
        reason = f"modes disagree: semi-naive {semi['total']} facts, naive {naive['total']}"
        return {
            "figures": [
                figure(f"reasoner: {what}", None, reason=reason)
                for what in ("derived facts/s", "semi-naive speed-up", "peak memory")
            ],
            **details,
        }
    rate = semi["derived"] / semi["seconds"] if semi["seconds"] else None
    speedup = naive["seconds"] / semi["seconds"] if semi["seconds"] else None
    figures = [
        figure(
            f"reasoner: derived facts/s ({label}, semi-naive)",
            rate,
            unit="facts/s",
            goal=GOAL_FACTS_PER_S,
            op=">=",
            derived=semi["derived"],
            seconds=round(semi["seconds"], 2),
        ),
        figure(
            f"reasoner: semi-naive speed-up over naive ({label})",
            speedup,
            unit="x",
            goal=GOAL_SPEEDUP,
            op=">=",
            naive_seconds=round(naive["seconds"], 2),
            semi_naive_seconds=round(semi["seconds"], 2),
            derivations_ratio=round(naive["derivations"] / max(semi["derivations"], 1), 2),
        ),
        figure(
            f"reasoner: peak memory ({label}, semi-naive)",
            semi["maxrss_mb"],
            unit="MB",
            goal=GOAL_PEAK_MB,
            op="<=",
            bytes_per_fact=round(semi["bytes_per_fact"], 1),
            facts=semi["total"],
        ),
        figure(
            f"reasoner: demo materialisation ({DEMO_TRANSACTIONS:,} tx)",
            demo["seconds"],
            unit="s",
            goal=GOAL_DEMO_S,
            op="<=",
            derived=demo["derived"],
        ),
    ]
    return {"figures": figures, **details}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
