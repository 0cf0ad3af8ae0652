"""Log-parse throughput: MB/s of ``parse_rdfox_log`` on a large synthetic rdfox.log, against a bare
``str.splitlines`` scan of the same text that only looks for the timestamp markers (the least any parser must
do). Reported as the ratio parser/scan, both measured in this one run on this machine, so the figure does not
depend on the machine's speed.

The synthetic log is the real reference log (../shared/reference/rdfox-5-reference-run.log) with a large
block of per-file import lines inserted where RDFox prints them (a job of many input files), so that every
section the parser reads is present and its result can be checked against the reference's known figures.

Hostile input (the pod writes the log, so a jobspec's data decides what is in it): a 64 MB log of ONE line,
and a 64 MB log of lines just under the parser's line bound, each line a shape that made the old patterns
backtrack (whitespace runs after a marker, an info label or a query file name); each must parse or fail in a
few seconds. And ``redact`` (every notification's text) on hostile text: the time for 4x the text divided by
the time for 1x (about 4 when linear, 16 for a quadratic pattern).
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
HOSTILE_MB = 64.0
HOSTILE_GOAL_SECONDS = 5.0
# 4x the text: linear is ~4; quadratic would be ~16.
REDACT_GROWTH_GOAL = 6.0
_HOSTILE_SHAPES = (
    "TOTALTIME-01-Jan-2024 00:00:00|01-Jan-2024{ws}00:00:05",  # a valid stamp (any whitespace)
    "Aggregate number of EDB facts{ws}x",
    "Answering query from file 'a{ws}a",
    "aCount{commas}!",
)
_REDACT_PIECES = ("a-", "a.", "password", "a://b:", "AWS4-HMAC-SHA256", 'token="', "-----END RSA ", "aA1/+")
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


def hostile_single_line(target_mb: float) -> str:
    size = int(target_mb * 1e6)
    unit = "LOADTIME-a|a" + " " * 1000 + "Aggregate size" + " " * 1000 + ":"
    return (unit * (size // len(unit) + 1))[:size]


def hostile_long_lines(target_mb: float) -> str:
    from rdfox_pipeline.domain.rdfox_log import MAX_LINE_CHARS

    room = MAX_LINE_CHARS - 80
    lines = [
        shape.format(ws=" " * room, commas=", a" * (room // 3))[:MAX_LINE_CHARS] for shape in _HOSTILE_SHAPES
    ]
    block = "\n".join(lines) + "\n"
    return block * max(1, int(target_mb * 1e6 // len(block)))


def _parse_or_fail_seconds(text: str) -> tuple[float, str]:
    from rdfox_pipeline.domain.rdfox_log import RdfoxLogError, parse_rdfox_log

    t0 = time.perf_counter()
    try:
        parse_rdfox_log(text)
        outcome = "parsed"
    except RdfoxLogError as exc:
        outcome = f"refused: {str(exc)[:80]}"
    return time.perf_counter() - t0, outcome


def _redact_growth(base_chars: int) -> tuple[float, float]:
    from rdfox_pipeline.notifications.redact import redact

    def seconds(chars: int) -> float:
        text = "".join(piece * (chars // len(piece) // len(_REDACT_PIECES)) for piece in _REDACT_PIECES)
        t0 = time.perf_counter()
        redact(text)
        return time.perf_counter() - t0

    small = min(seconds(base_chars) for _ in range(REPEATS))
    large = min(seconds(4 * base_chars) for _ in range(REPEATS))
    return large / max(small, 1e-9), large


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
    hostile_mb = 4.0 if quick else HOSTILE_MB
    hostile = []
    for label, make in (("one line", hostile_single_line), ("lines at the bound", hostile_long_lines)):
        text = make(hostile_mb)
        seconds, outcome = _parse_or_fail_seconds(text)
        hostile.append(
            figure(
                f"hostile {hostile_mb:g} MB log ({label}): parse or fail",
                round(seconds, 2),
                unit="s",
                goal=HOSTILE_GOAL_SECONDS,
                outcome=outcome,
                log_mb=round(len(text) / 1e6, 1),
            )
        )
        del text
    growth, redact_s = _redact_growth(50_000 if quick else 500_000)
    return {
        "figures": [
            *hostile,
            figure(
                "redact time, 4x hostile text / 1x",
                round(growth, 2),
                goal=REDACT_GROWTH_GOAL,
                large_text_seconds=round(redact_s, 3),
            ),
            figure(
                "log parse throughput / splitlines scan",
                round(parse_rate / scan_rate, 3),
                goal=GOAL_RATIO,
                op=">=",
                parse_mb_s=round(parse_rate, 1),
                scan_mb_s=round(scan_rate, 1),
                log_mb=round(mb, 1),
            ),
        ],
        "log_mb": round(mb, 1),
        "parse_mb_s": round(parse_rate, 1),
        "scan_mb_s": round(scan_rate, 1),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
