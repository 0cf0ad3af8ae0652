"""Parse an ``rdfox.log`` (RDFox 5 or 7, or the local reasoner) into InferenceStats.

The log is what the generated script prints (docs/ARCHITECTURE.md, "The RDFox script"): timestamp
markers ``LOADTIME-<start>|<end>`` etc., an ``info`` dump between ``---info---``/``---endinfo---``, fact
counts between ``---factcounts---``/``---endfactcounts---`` and CSV answers of ``*.count.rq`` queries.
A log that was cut off (no TOTALTIME marker, or an unclosed section) or that reports an RDFox error
raises RdfoxLogError: a failed run must never be recorded as a run with zero facts.

Parsing is linear in the log's size whatever it holds (the log is written by the pod, so by whatever the
jobspec's data makes RDFox print): no regex here can backtrack over a line, and a line longer than
MAX_LINE_CHARS is only checked for an error prefix, never read for figures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any


class RdfoxLogError(ValueError):
    """The log shows a failed or unfinished run, or cannot be read; the message says why."""


@dataclass(frozen=True)
class InferenceStats:
    time_to_load: int | None
    time_to_infer: int | None
    time_query: int | None
    time_total: int
    triples_input_amount: int | None
    triples_total_amount: int | None
    triples_materialised_amount: int | None
    triples_avg_size: float | None
    memory_usage: int | None
    triples_input_rate: float | None
    triples_materialised_rate: float | None
    query_answers: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InferenceStats:
        """Rebuild from ``to_dict()`` output (a stored job record: DynamoDB numbers come back as Decimal)."""

        def num(value: Any, kind: type) -> Any:
            return None if value is None else kind(value)

        ints = ("time_to_load", "time_to_infer", "time_query", "time_total", "triples_input_amount")
        ints += ("triples_total_amount", "triples_materialised_amount", "memory_usage")
        floats = ("triples_avg_size", "triples_input_rate", "triples_materialised_rate")
        return cls(
            **{k: num(data.get(k), int) for k in ints},
            **{k: num(data.get(k), float) for k in floats},
            query_answers={k: int(n) for k, n in (data.get("query_answers") or {}).items()},
            counts={k: int(n) for k, n in (data.get("counts") or {}).items()},
        )


# --- lines that mean RDFox (or the local reasoner) failed
# RDFox prints single-line errors ("Error: ...", "Unknown command '...'") and a multi-line form that starts
# with "An error occurred while executing the command:" followed by indented detail lines. Informational
# lines such as "Script name is missing." (the old launcher's quirk, see the reference log) are not errors.
_ERROR_RE = re.compile(
    r"^(?:Error:|ERROR\b|An error occurred|Unknown command '|File with name '.*' cannot be found"
    r"|Script file .* cannot be found|The server could not start listening|terminate called after throwing)"
)

# Lines the script prints are short; a longer line is no marker, info value or answer count (it is still
# checked for an error prefix). Bounds the work per line, whatever the line holds.
MAX_LINE_CHARS = 4096

_MARKER_NAMES = ("LOADTIME", "INFERENCETIME", "QUERYTIME", "TOTALTIME")
_STAMP_RE = re.compile(
    r"^\s*(\d{1,2})-([A-Za-z]{3})-(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})(?:\s+([+-])(\d{2}):?(\d{2}))?\s*$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
# The label is what precedes the first colon (split in Python: a lazy label before "\s*:" backtracks).
_INFO_LABEL_RE = re.compile(r"[A-Za-z][A-Za-z ()%/-]*")
_INFO_VALUE_RE = re.compile(r"\s*" + _NUMBER + r"\b")
_QUERY_FILE_RE = re.compile(r"Answering query (?:from|in) file:?")
_ANSWERS_RE = re.compile(r"^(?:Number of returned tuples|Number of query answers)\s*:\s*" + _NUMBER)
# Possessive after the first name: a line that is not a header fails without retrying other splits.
_COUNT_HEADER_RE = re.compile(r"\??[A-Za-z_][A-Za-z0-9_]*Count(?:\s*+,\s*+\??[A-Za-z_][A-Za-z0-9_]*+)*+")
_CSV_VALUE_RE = re.compile(r'^"?(\d{1,3}(?:,\d{3})+|\d+)"?$')

_SECTIONS = {
    "---info---": "---endinfo---",
    "---factcounts---": "---endfactcounts---",
    "running-counts": "end-running-counts",
}

# info labels (lowercase, single-spaced) per quantity: RDFox 5 names first, then later versions' names.
_EDB_LABELS = (
    "aggregate number of edb facts",
    "aggregate number of explicit facts",
    "number of edb facts",
    "number of explicit facts",
)
_IDB_LABELS = (
    "aggregate number of idb facts",
    "aggregate number of all facts",
    "aggregate number of facts",
    "number of idb facts",
    "number of all facts",
    "number of facts",
)
_BYTES_PER_ENTRY_LABELS = ("bytes per entry", "bytes per fact", "aggregate bytes per entry")
_SIZE_LABELS = ("aggregate size", "aggregate memory size", "memory usage")
_ENTRIES_LABELS = ("aggregate number of entries", "number of entries")


def _to_int(digits: str) -> int:
    return int(digits.replace(",", ""))


def _number(whole: str, fraction: str | None) -> float | int:
    return float(whole.replace(",", "") + fraction) if fraction else _to_int(whole)


def parse_rdfox_timestamp(text: str) -> datetime:
    """``30-Jul-2021 19:41:03`` (optionally `` +zzzz``), locale-independent."""
    match = _STAMP_RE.match(text)
    if not match or match[2].lower() not in _MONTHS:
        raise ValueError(f"not an RDFox timestamp (dd-Mon-yyyy HH:MM:SS): {text.strip()!r}")
    day, _month, year, hour, minute, second, sign, zh, zm = match.groups()
    tz = None
    if sign:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year), _MONTHS[match[2].lower()], int(day), int(hour), int(minute), int(second), tzinfo=tz
        )
    except ValueError as exc:
        raise ValueError(f"impossible date {text.strip()!r}: {exc}") from None


def _seconds(name: str, start_text: str, end_text: str, lineno: int) -> int:
    try:
        start, end = parse_rdfox_timestamp(start_text), parse_rdfox_timestamp(end_text)
    except ValueError as exc:
        raise RdfoxLogError(f"line {lineno}: {name} marker: {exc}") from None
    if (start.tzinfo is None) != (end.tzinfo is None):
        # One side without a zone: compare wall-clock times rather than refuse a usable log.
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    seconds = int((end - start).total_seconds())
    if seconds < 0:
        raise RdfoxLogError(f"line {lineno}: {name} marker ends before it starts ({start_text}|{end_text})")
    return seconds


def _lines(text: str) -> list[str]:
    # Not str.splitlines(): that also splits on form feeds and Unicode separators inside values.
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


# Stands for a line over MAX_LINE_CHARS: not blank (so it still separates what surrounds it), matches nothing.
_TOO_LONG = "\x00"


def _bounded(lines: list[str]) -> list[str]:
    return [line if len(line) <= MAX_LINE_CHARS else _TOO_LONG for line in lines]


def _check_errors(lines: list[str]) -> None:
    for index, full_line in enumerate(lines):
        # The error patterns are anchored prefixes: the line's head is enough, and bounds the work.
        line = full_line[:MAX_LINE_CHARS]
        if _ERROR_RE.match(line):
            detail = [line.strip()]
            for follow in (f[:MAX_LINE_CHARS] for f in lines[index + 1 : index + 4]):
                if not follow.startswith((" ", "\t")) or not follow.strip():
                    break
                detail.append(follow.strip())
            raise RdfoxLogError(f"RDFox reported an error at line {index + 1}: {' '.join(detail)[:500]}")


def _sections(lines: list[str]) -> dict[str, range]:
    """Line indexes inside each marked section (the last one); an unclosed section means a cut-off log."""
    found: dict[str, range] = {}
    open_name: str | None = None
    open_at = 0
    for index, line in enumerate(lines):
        stripped = line.strip()
        if open_name is None:
            if stripped in _SECTIONS:
                open_name, open_at = stripped, index
        elif stripped == _SECTIONS[open_name]:
            found[open_name] = range(open_at + 1, index)
            open_name = None
    if open_name is not None:
        raise RdfoxLogError(
            f"log is truncated: section {open_name} opened at line {open_at + 1} is never closed "
            f"({_SECTIONS[open_name]} missing)"
        )
    return found


def _info_values(lines: list[str]) -> dict[str, float | int]:
    values: dict[str, float | int] = {}
    for line in lines:
        head, colon, tail = line.partition(":")
        label = head.strip()
        if not colon or not _INFO_LABEL_RE.fullmatch(label):
            continue
        match = _INFO_VALUE_RE.match(tail)
        if match:
            values.setdefault(" ".join(label.lower().split()), _number(match[1], match[2]))
    return values


def _first(values: Mapping[str, float | int], labels: tuple[str, ...]) -> float | int | None:
    for label in labels:
        if label in values:
            return values[label]
    return None


def _is_count_header(line: str) -> bool:
    """``xCount`` or ``?xCount, ?other, ...``: CSV names, the first ending in Count (after one character)."""
    if not line.partition(",")[0].strip().endswith("Count"):
        return False  # cheap: most lines end here
    return _COUNT_HEADER_RE.fullmatch(line.strip()) is not None


def _csv_counts(lines: list[str]) -> Iterator[tuple[str, int]]:
    """``<name>Count`` CSV headers with the value on the next non-empty line."""
    for index, line in enumerate(lines):
        if "Count" not in line or not _is_count_header(line):  # the substring test first: it is cheap
            continue
        following = [nxt.strip() for nxt in lines[index + 1 : index + 3] if nxt.strip()]
        if not following:
            continue
        names = [n.strip().lstrip("?") for n in line.split(",")]
        cells = [following[0]] if len(names) == 1 else following[0].split(",")
        if len(cells) != len(names):
            continue
        for name, cell in zip(names, cells, strict=True):
            match = _CSV_VALUE_RE.match(cell.strip())
            if match and name.endswith("Count"):
                yield name, _to_int(match[1])


def _query_file(line: str) -> str | None:
    """The file an ``Answering query from file 'x.rq'`` line names (one pair of optional quotes dropped)."""
    start = _QUERY_FILE_RE.match(line)
    if not start:
        return None
    name = line[start.end() :].strip()
    if len(name) > 1 and name[0] in "'\"":
        name = name[1:]
    if len(name) > 1 and name[-1] in "'\"":
        name = name[:-1]
    return name or None


def _marker(line: str) -> tuple[str, str, str] | None:
    """``NAME-<start>|<end>`` as (name, start, end); the end is after the last ``|``."""
    name, dash, rest = line.partition("-")
    if not dash or name not in _MARKER_NAMES or "|" not in rest:
        return None
    start, _, end = rest.rpartition("|")
    return name, start, end.rstrip()


def _query_answers(lines: list[str]) -> dict[str, int]:
    answers: dict[str, int] = {}
    current: str | None = None
    for line in lines:
        if "Answering query" not in line and "Number of" not in line:  # what this loop reads: cheap skip
            continue
        file_name = _query_file(line.strip())
        if file_name is not None:
            current = file_name.replace("\\", "/").rsplit("/", 1)[-1]
            continue
        count_match = _ANSWERS_RE.match(line.strip())
        if count_match and current is not None:
            # *.count.rq answers are one-row counts, reported under ``counts`` instead.
            if not current.endswith(".count.rq"):
                answers[current] = _to_int(count_match[1])
            current = None
    return answers


def _rate(amount: int | None, seconds: int | None) -> float | None:
    if amount is None or not seconds:
        return None
    return round(amount / seconds, 3)


def parse_rdfox_log(text: str) -> InferenceStats:
    """InferenceStats of a finished run; RdfoxLogError for a failed, truncated or empty log."""
    if not isinstance(text, str):
        raise RdfoxLogError(f"expected the log as text, got {type(text).__name__}")
    lines = _lines(text)
    if not any(line.strip() for line in lines):
        raise RdfoxLogError("log is empty")
    _check_errors(lines)
    lines = _bounded(lines)

    times: dict[str, int] = {}
    for index, line in enumerate(lines):
        marker = _marker(line.strip()) if "TIME-" in line else None
        if marker:
            times[marker[0]] = _seconds(*marker, index + 1)
    if "TOTALTIME" not in times:
        raise RdfoxLogError(
            "log is truncated: no TOTALTIME marker (RDFox did not reach the end of the script)"
        )
    sections = _sections(lines)

    fact_range = sections.get("---factcounts---", range(0))
    fact_counts = dict(_csv_counts([lines[i] for i in fact_range]))
    info_range = sections.get("---info---")
    info = _info_values(lines if info_range is None else [lines[i] for i in info_range])
    edb = fact_counts.get("explicitFactCount", _first(info, _EDB_LABELS))
    idb = fact_counts.get("allFactCount", _first(info, _IDB_LABELS))
    edb = None if edb is None else int(edb)
    idb = None if idb is None else int(idb)

    entries = _first(info, _ENTRIES_LABELS)
    avg = _first(info, _BYTES_PER_ENTRY_LABELS)
    size = _first(info, _SIZE_LABELS)
    if avg is None and size is not None and entries:
        avg = round(size / entries, 3)
    if size is None and avg is not None and entries is not None:
        size = round(avg * entries)

    # Every other ``<name>Count`` answer (running counts); the fact counts are reported as amounts instead.
    counts = dict(_csv_counts([line for i, line in enumerate(lines) if i not in fact_range]))
    materialised = idb - edb if edb is not None and idb is not None else None
    return InferenceStats(
        time_to_load=times.get("LOADTIME"),
        time_to_infer=times.get("INFERENCETIME"),
        time_query=times.get("QUERYTIME"),
        time_total=times["TOTALTIME"],
        triples_input_amount=edb,
        triples_total_amount=idb,
        triples_materialised_amount=materialised,
        triples_avg_size=None if avg is None else float(avg),
        memory_usage=None if size is None else int(size),
        triples_input_rate=_rate(edb, times.get("LOADTIME")),
        triples_materialised_rate=_rate(materialised, times.get("INFERENCETIME")),
        query_answers=_query_answers(lines),
        counts=counts,
    )
