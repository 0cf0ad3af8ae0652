"""Log-parse throughput: MB/s of ``parse_rdfox_log`` on a large synthetic rdfox.log, against a bare
``str.splitlines`` scan of the same text that only looks for the timestamp markers (the least any parser must
do). Reported as the ratio parser/scan, both measured in this one run on this machine, so the figure does not
depend on the machine's speed.

The synthetic log is the real reference log (../shared/reference/rdfox-5-reference-run.log) with a large
block of per-file import lines inserted where RDFox prints them (a job of many input files), so that every
section the parser reads is present and its result can be checked against the reference's known figures.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from bench import figure

REPO = Path(__file__).resolve().parent.parent
REFERENCE_LOG = REPO.parent / "shared" / "reference" / "rdfox-5-reference-run.log"
TARGET_MB = float(os.environ.get("BENCH_LOG_MB", "40"))
REPEATS = 3
# The parser reads every line several times with regexes; within 10x of a bare line scan is our goal.
GOAL_RATIO = 0.1
_MARKERS = ("LOADTIME-", "INFERENCETIME-", "QUERYTIME-", "TOTALTIME-")


def synthetic_log(target_mb: float = TARGET_MB) -> str:
    reference = REFERENCE_LOG.read_text()
    anchor = "Adding data in 305 files.\n"
    head, sep, tail = reference.partition(anchor)
    if not sep:
        raise RuntimeError(f"{REFERENCE_LOG} no longer has the line {anchor.strip()!r}")
    block = []
    size = 0
    n = 0
    while size < target_mb * 1e6:
        lines = (
            f"Adding data in file '/data/transactions/part-{n:06d}.nt'.\n"
            f"Import operation took {0.5 + (n % 97) / 100:.3f} s.\n"
            f"Processed {1_650_000 + n % 1000} facts, of which {1_600_000 + n % 777} were updated.\n"
        )
        block.append(lines)
        size += len(lines)
        n += 1
    return head + sep + "".join(block) + tail


def _scan(text: str) -> int:
    found = 0
    for line in text.splitlines():
        if line.startswith(_MARKERS):
            found += 1
    return found


def _best(fn: Any, text: str) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        result = fn(text)
        best = min(best, time.perf_counter() - t0)
    return best, result


def run(quick: bool = False) -> dict[str, Any]:
    from rdfox_pipeline.domain.rdfox_log import parse_rdfox_log

    text = synthetic_log(2.0 if quick else TARGET_MB)
    mb = len(text.encode("utf-8")) / 1e6
    parse_s, stats = _best(parse_rdfox_log, text)
    scan_s, markers = _best(_scan, text)
    # The parse must be right, not only fast: the reference run's known figures survive the extra lines.
    assert markers == 4, markers
    assert stats.triples_input_amount == 510_506_725, stats
    assert stats.counts.get("fullChainCount") == 2667, stats.counts
    parse_rate, scan_rate = mb / parse_s, mb / scan_s
    return {
        "figures": [
            figure(
                "log parse throughput / splitlines scan",
                round(parse_rate / scan_rate, 3),
                goal=GOAL_RATIO,
                op=">=",
                parse_mb_s=round(parse_rate, 1),
                scan_mb_s=round(scan_rate, 1),
                log_mb=round(mb, 1),
            )
        ],
        "log_mb": round(mb, 1),
        "parse_mb_s": round(parse_rate, 1),
        "scan_mb_s": round(scan_rate, 1),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
