"""rdfox.log parser: the reference RDFox 5 log, RDFox 7-style fixtures, generated logs (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdfox_pipeline.domain.rdfox_log import (
    InferenceStats,
    RdfoxLogError,
    parse_rdfox_log,
    parse_rdfox_timestamp,
)

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"


@pytest.fixture(scope="module")
def reference_log(reference_dir: Path) -> str:
    return (reference_dir / "rdfox-5-reference-run.log").read_text()


def test_reference_log(reference_log: str) -> None:
    stats = parse_rdfox_log(reference_log)
    assert (stats.time_to_load, stats.time_to_infer, stats.time_query, stats.time_total) == (
        254,
        1621,
        4355,
        1875,
    )
    assert stats.triples_input_amount == 510_506_725
    assert stats.triples_total_amount == 787_421_291
    assert stats.triples_materialised_amount == 787_421_291 - 510_506_725
    assert stats.triples_avg_size == 101.891
    assert stats.memory_usage == 80_273_916_922  # "Aggregate size"
    assert stats.counts == {"partialChainCount": 1337, "fullChainCount": 2667}
    assert stats.query_answers == {"extract1.rq": 15_157_104, "extract3.rq": 1_659_850_615}
    assert stats.triples_input_rate == round(510_506_725 / 254, 3)
    assert stats.triples_materialised_rate == round((787_421_291 - 510_506_725) / 1621, 3)
    assert set(stats.to_dict()) == {
        "time_to_load", "time_to_infer", "time_query", "time_total", "triples_input_amount",
        "triples_total_amount", "triples_materialised_amount", "triples_avg_size", "memory_usage",
        "triples_input_rate", "triples_materialised_rate", "query_answers", "counts",
    }  # fmt: skip
    assert InferenceStats.from_dict(stats.to_dict()) == stats


def test_reference_log_with_crlf(reference_log: str) -> None:
    assert parse_rdfox_log(reference_log.replace("\n", "\r\n")) == parse_rdfox_log(reference_log)


def test_rdfox7_fixture_across_year_end() -> None:
    stats = parse_rdfox_log((LOGS / "rdfox7-success.log").read_text())
    assert stats.time_to_load == 70
    assert stats.time_to_infer == 85  # 31-Dec 23:59:40 -> 01-Jan 00:01:05
    assert stats.time_total == 162
    # ---factcounts--- wins; its counts are amounts, not running counts
    assert (stats.triples_input_amount, stats.triples_total_amount) == (1_200_000, 1_530_120)
    assert stats.counts == {"partialChainCount": 42, "fullChainCount": 7}
    assert stats.query_answers == {"extract1.rq": 12_345, "suspicious.rq": 0}
    assert stats.triples_avg_size == 96.5
    assert stats.memory_usage == round(96.5 * 1_530_200)  # no "Aggregate size": entries x bytes per entry


def test_truncated_fixture() -> None:
    with pytest.raises(RdfoxLogError, match="truncated"):
        parse_rdfox_log((LOGS / "rdfox7-truncated.log").read_text())


def test_error_fixture_names_the_line() -> None:
    with pytest.raises(RdfoxLogError, match=r"error at line 7: An error occurred .*unexpected token"):
        parse_rdfox_log((LOGS / "rdfox7-error.log").read_text())


def test_script_name_is_missing_is_not_an_error(reference_log: str) -> None:
    assert "Script name is missing." in reference_log
    parse_rdfox_log(reference_log)


@pytest.mark.parametrize(
    "line",
    [
        "Error: The file '/data/missing.nt' could not be opened.",
        "ERROR: out of memory",
        "Unknown command 'mats'.",
        "File with name '/data/x.rq' cannot be found.",
        "terminate called after throwing an instance of 'std::bad_alloc'",
    ],
)
def test_error_lines_fail_even_with_totaltime(reference_log: str, line: str) -> None:
    broken = reference_log.replace("Materializing rules.", "Materializing rules.\n" + line)
    with pytest.raises(RdfoxLogError, match="RDFox reported an error"):
        parse_rdfox_log(broken)


def test_fact_counts_fall_back_to_info_and_fact_counts_are_preferred(reference_log: str) -> None:
    with_counts = reference_log.replace(
        "TOTALTIME-",
        "---factcounts---\nexplicitFactCount\n5\nallFactCount\n1,000\n---endfactcounts---\nTOTALTIME-",
    )
    stats = parse_rdfox_log(with_counts)
    assert (stats.triples_input_amount, stats.triples_total_amount) == (5, 1000)
    assert "explicitFactCount" not in stats.counts


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("\r\n\n", "empty"),
        ("LOADTIME-30-Jul-2021 19:41:03|30-Jul-2021 19:45:17\n", "no TOTALTIME"),
        ("TOTALTIME-$(loadStart)|30-Jul-2021 19:45:17\n", "TOTALTIME marker: not an RDFox timestamp"),
        ("TOTALTIME-30-Feb-2021 19:41:03|30-Jul-2021 19:45:17\n", "impossible date"),
        ("TOTALTIME-30-Jul-2021 19:41:03|30-Jul-2021 19:40:17\n", "ends before it starts"),
        (
            "TOTALTIME-30-Jul-2021 19:41:03|30-Jul-2021 19:45:17\n---info---\n  Name : x\n",
            "---endinfo--- missing",
        ),
        ("TOTALTIME-30-Jul-2021 19:41:03|30-Jul-2021 19:45:17\nrunning-counts\naCount\n1\n", "never closed"),
    ],
)
def test_unusable_logs(text: str, fragment: str) -> None:
    with pytest.raises(
        RdfoxLogError, match=fragment.replace("$", r"\$").replace("(", r"\(").replace(")", r"\)")
    ):
        parse_rdfox_log(text)


def test_minimal_log_gives_none_not_zero() -> None:
    stats = parse_rdfox_log("TOTALTIME-30-Jul-2021 19:41:03|30-Jul-2021 19:41:03\n")
    assert stats.time_total == 0
    assert (
        stats.triples_input_amount is None and stats.memory_usage is None and stats.triples_input_rate is None
    )


def test_timestamps() -> None:
    assert parse_rdfox_timestamp("30-Jul-2021 19:41:03") == datetime(2021, 7, 30, 19, 41, 3)
    zoned = parse_rdfox_timestamp("01-JAN-2024 00:00:00 +0130")
    assert zoned.utcoffset() == timedelta(hours=1, minutes=30)
    with pytest.raises(ValueError, match="not an RDFox timestamp"):
        parse_rdfox_timestamp("2021-07-30 19:41:03")


# --- generated logs -----------------------------------------------------------------------------------------
def stamp(moment: datetime, zone: str | None) -> str:
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    text = f"{moment.day:02d}-{months[moment.month - 1]}-{moment.year} {moment:%H:%M:%S}"
    return f"{text} {zone}" if zone else text


def grouped(value: int, thousands: bool) -> str:
    return f"{value:,}" if thousands else str(value)


def build_log(
    start: datetime, load: int, infer: int, query: int, edb: int, extra: int, chains: int,
    *, thousands: bool, zone: str | None, rdfox7: bool, answers: int,
) -> str:  # fmt: skip
    t1, t2, t3 = start + timedelta(seconds=load), start + timedelta(seconds=load + infer), None
    t3 = t2 + timedelta(seconds=query)
    idb = edb + extra
    edb_label, idb_label = (
        ("Aggregate number of explicit facts", "Aggregate number of facts")
        if rdfox7
        else ("Aggregate number of EDB facts", "Aggregate number of IDB facts")
    )
    answers_label = "Number of query answers:" if rdfox7 else "Number of returned tuples:"
    return "\n".join(
        [
            "A new data store 'transactions' was created and initialized.",
            f"LOADTIME-{stamp(start, zone)}|{stamp(t1, zone)}",
            f"INFERENCETIME-{stamp(t1, zone)}|{stamp(t2, zone)}",
            "Answering query from file:   /data/q1.rq",
            f"{answers_label}   {grouped(answers, thousands)}",
            f"QUERYTIME-{stamp(t2, zone)}|{stamp(t3, zone)}",
            "---info---",
            f"    {edb_label}  :  {grouped(edb, thousands)}  (x)",
            f"    {idb_label}:{grouped(idb, thousands)}",
            "    Bytes per entry : 88.25",
            "---endinfo---",
            f"TOTALTIME-{stamp(start, zone)}|{stamp(t3, zone)}",
            "running-counts",
            "chainCount",
            str(chains),
            "end-running-counts",
            "",
        ]
    )


# Start times cluster around month, year and day ends so that durations cross them.
edges = st.sampled_from(
    [datetime(2021, 1, 31, 23, 0), datetime(2023, 12, 31, 23, 30), datetime(2024, 2, 28, 23, 0),
     datetime(2024, 2, 29, 22, 0), datetime(2021, 6, 30, 23, 59, 59), datetime(2022, 3, 15, 0, 0)]
)  # fmt: skip
starts = st.one_of(
    st.builds(lambda edge, shift: edge - timedelta(seconds=shift), edges, st.integers(0, 7200)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)),
)


@settings(max_examples=200, deadline=None)
@given(
    start=starts,
    load=st.integers(0, 10**6),
    infer=st.integers(0, 3 * 86400),
    query=st.integers(0, 86400),
    edb=st.integers(0, 10**12),
    extra=st.integers(0, 10**12),
    chains=st.integers(0, 10**9),
    answers=st.integers(0, 10**10),
    thousands=st.booleans(),
    zone=st.sampled_from([None, "+0000", "+0100", "-0530"]),
    rdfox7=st.booleans(),
    crlf=st.booleans(),
)
def test_generated_logs(
    start: datetime, load: int, infer: int, query: int, edb: int, extra: int, chains: int, answers: int,
    thousands: bool, zone: str | None, rdfox7: bool, crlf: bool,
) -> None:  # fmt: skip
    start = start.replace(microsecond=0)
    text = build_log(
        start,
        load,
        infer,
        query,
        edb,
        extra,
        chains,
        thousands=thousands,
        zone=zone,
        rdfox7=rdfox7,
        answers=answers,
    )
    if crlf:
        text = text.replace("\n", "\r\n")
    stats = parse_rdfox_log(text)
    assert (stats.time_to_load, stats.time_to_infer, stats.time_query) == (load, infer, query)
    assert stats.time_total == load + infer + query
    assert (stats.triples_input_amount, stats.triples_total_amount) == (edb, edb + extra)
    assert stats.triples_materialised_amount == extra
    assert stats.counts == {"chainCount": chains}
    assert stats.query_answers == {"q1.rq": answers}
    assert stats.triples_input_rate == (round(edb / load, 3) if load else None)
    assert stats.triples_materialised_rate == (round(extra / infer, 3) if infer else None)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_any_prefix_before_totaltime_is_truncated(reference_log: str, cut: int) -> None:
    end = reference_log.index("TOTALTIME-")
    prefix = reference_log[: cut % end]
    with pytest.raises(RdfoxLogError):
        parse_rdfox_log(prefix)


# --- bounded parsing: the log is written by the pod, so its content is whatever a jobspec's data makes
# RDFox print. Long lines are not read for figures (the per-line work is bounded), and no pattern backtracks
# (bench/log_parse.py times a 64 MB hostile log; a timed unit test would be flaky on a shared machine).
MINIMAL = "TOTALTIME-01-Jan-2024 00:00:00|01-Jan-2024 00:00:05\n"


def test_a_line_longer_than_the_bound_is_not_read_for_figures() -> None:
    from rdfox_pipeline.domain.rdfox_log import MAX_LINE_CHARS

    padded = "Number of facts" + " " * MAX_LINE_CHARS + ": 7\n"
    assert parse_rdfox_log(MINIMAL + "Number of facts: 7\n").triples_total_amount == 7
    assert parse_rdfox_log(MINIMAL + padded).triples_total_amount is None
    long_marker = "TOTALTIME-01-Jan-2024 00:00:00|01-Jan-2024 00:00:05" + " " * MAX_LINE_CHARS
    with pytest.raises(RdfoxLogError, match="no TOTALTIME marker"):
        parse_rdfox_log(long_marker)
    # A header whose value line is too long is no count either (the long line is not blank: not skipped).
    assert parse_rdfox_log(MINIMAL + "xCount\n" + "1" * (MAX_LINE_CHARS + 1) + "\n3\n").counts == {}


def test_a_long_error_line_still_fails_the_log() -> None:
    from rdfox_pipeline.domain.rdfox_log import MAX_LINE_CHARS

    with pytest.raises(RdfoxLogError, match=r"at line 2: Error: out of memory"):
        parse_rdfox_log(MINIMAL + "Error: out of memory " + "x" * (10 * MAX_LINE_CHARS) + "\n")


def test_query_file_names_and_markers_keep_their_meaning() -> None:
    text = (
        "LOADTIME-01-Jan-2024 00:00:00|01-Jan-2024 00:00:03  \n"
        + MINIMAL
        + "Answering query from file: '/data/q1.rq'\nNumber of returned tuples: 1,234\n"
        + 'Answering query in file "C:\\queries\\q2.rq"\nNumber of query answers : 5\n'
        + "Answering query from file q3.rq\nNumber of returned tuples: 6\n"
    )
    stats = parse_rdfox_log(text)
    assert stats.time_to_load == 3
    assert stats.query_answers == {"q1.rq": 1234, "q2.rq": 5, "q3.rq": 6}


_HOSTILE_PIECES = st.sampled_from(
    [" ", "\t", "a", "1", ",", ":", "|", "-", "'", '"', "?", "Count", "TOTALTIME-", "Error", "\x0c", "é",
     "Answering query from file ", "Number of facts", "01-Jan-2024 00:00:00", ",123", ".5", "\r"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.lists(_HOSTILE_PIECES, max_size=400).map("".join).map(lambda s: s * 3), min_size=1, max_size=8
    ),
    with_total=st.booleans(),
)
def test_hostile_logs_parse_or_fail_with_a_reason(lines: list[str], with_total: bool) -> None:
    text = (MINIMAL if with_total else "") + "\n".join(lines)
    try:
        stats = parse_rdfox_log(text)
    except RdfoxLogError as exc:
        assert str(exc)  # a reason, never an empty message or another exception type
    else:
        assert stats.time_total >= 0
