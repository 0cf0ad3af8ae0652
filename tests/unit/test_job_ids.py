"""Job ids: ``<DATASET><d><YYYY-MM-DD><d><NNN>``."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rdfox_pipeline.domain.job_ids import JobId, format_job_id, parse_job_id


def test_design_example() -> None:
    job = parse_job_id("MYDATASET_2021-08-01_000")
    assert job == JobId("MYDATASET", date(2021, 8, 1), 0)
    assert job.sort_key() == "2021-08-01_000"
    assert job.format() == "MYDATASET_2021-08-01_000"
    assert format_job_id("100MT1MP3DAY", date(2021, 8, 3), 1) == "100MT1MP3DAY_2021-08-03_001"


def test_other_delimiter_and_long_sequences() -> None:
    assert format_job_id("A_B", date(2024, 2, 29), 1234, delim="~") == "A_B~2024-02-29~1234"
    assert parse_job_id("A_B~2024-02-29~1234", delim="~") == JobId("A_B", date(2024, 2, 29), 1234)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("DS_2021-08-01", "found 2 parts"),
        ("DS_X_2021-08-01_000", "found 4 parts"),
        ("_2021-08-01_000", "empty dataset"),
        ("DS_2021-8-1_000", "invalid date"),
        ("DS_2021-02-30_000", "invalid date"),
        ("DS_2021-08-01_00", "invalid sequence"),
        ("DS_2021-08-01_abc", "invalid sequence"),
    ],
)
def test_bad_ids(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_job_id(text)


def test_format_rejects_bad_parts() -> None:
    with pytest.raises(ValueError, match="delimiter"):
        format_job_id("A_B", date(2021, 1, 1), 0)
    with pytest.raises(ValueError, match=">= 0"):
        format_job_id("AB", date(2021, 1, 1), -1)
    with pytest.raises(ValueError, match="must not be empty"):
        parse_job_id("x", delim="")


@given(
    dataset=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,20}", fullmatch=True),
    day=st.dates(min_value=date(1000, 1, 1)),
    seq=st.integers(0, 10**6),
    delim=st.sampled_from(["_", "~", "__", "+"]),
)
def test_round_trip_and_sort_order(dataset: str, day: date, seq: int, delim: str) -> None:
    text = format_job_id(dataset, day, seq, delim)
    assert parse_job_id(text, delim) == JobId(dataset, day, seq)
    if seq < 999:
        # zero-padded keys sort like the jobs they name (within one day, up to 999 jobs)
        assert JobId(dataset, day, seq).sort_key(delim) < JobId(dataset, day, seq + 1).sort_key(delim)
