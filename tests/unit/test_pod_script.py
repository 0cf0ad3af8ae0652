"""The RDFox script generator: pure, deterministic, in the order and with the markers the log parser needs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rdfox_pipeline.pod.script import classify_dataset_files, generate_rdfox_script, query_output_name

FILES = dict(
    rule_files=["rules/b.dlog", "rules/a.dlog"],
    data_files=["part-0002.nt.gz", "part-0001.nt"],
    query_files=["extract2.rq", "extract1.rq"],
    count_query_files=["chains.count.rq"],
)


def _lines(**overrides: object) -> list[str]:
    return generate_rdfox_script(**{**FILES, **overrides}).splitlines()  # type: ignore[arg-type]


def test_rdfox7_preamble() -> None:
    lines = _lines()
    assert lines[:3] == [
        "set on-error stop",
        "dstore create transactions type parallel-nw",
        "active transactions",
    ]


def test_rules_are_imported_before_data_in_a_sorted_order() -> None:
    imports = [line for line in _lines() if line.startswith("import ")]
    assert imports == [
        'import "/data/rules/a.dlog"',
        'import "/data/rules/b.dlog"',
        'import "/data/part-0001.nt"',
        'import "/data/part-0002.nt.gz"',
    ]


def test_markers_are_in_order_and_bracket_each_phase() -> None:
    lines = _lines()
    order = [
        "tstamp loadStart", "begin", "tstamp loadEnd", "echo LOADTIME-$(loadStart)|$(loadEnd)", "mat",
        "commit",
        "tstamp inferEnd", "echo INFERENCETIME-$(loadEnd)|$(inferEnd)", "tstamp queryEnd",
        "echo QUERYTIME-$(inferEnd)|$(queryEnd)", "echo ---info---", "info", "echo ---endinfo---",
        "echo ---factcounts---", "echo ---endfactcounts---", "tstamp totalEnd",
        "echo TOTALTIME-$(loadStart)|$(totalEnd)", "echo running-counts", "echo end-running-counts", "quit",
    ]  # fmt: skip
    positions = [lines.index(item) for item in order]
    assert positions == sorted(positions)


def test_each_query_answers_into_its_own_ntriples_file() -> None:
    lines = _lines()
    start = lines.index('set query.answer-format "application/n-triples"')
    assert lines[start + 1 : start + 5] == [
        'set output "/output/data/extract1.rq.nt"',
        'answer "/data/extract1.rq"',
        'set output "/output/data/extract2.rq.nt"',
        'answer "/data/extract2.rq"',
    ]
    assert lines[start + 5] == "set output out"  # later output goes back to the log


def test_fact_counts_and_count_queries_use_a_select_result_format() -> None:
    lines = _lines()
    csv = lines.index('set query.answer-format "text/csv"')
    assert csv < lines.index("echo ---factcounts---")
    explicit = lines.index("set query.fact-domain explicit")
    assert "COUNT(*)" in lines[explicit + 1]
    assert lines.index('answer "/data/chains.count.rq"') > lines.index("echo running-counts")


def test_same_files_in_any_order_give_the_same_script() -> None:
    shuffled = {key: list(reversed(value)) for key, value in FILES.items()}
    assert generate_rdfox_script(**FILES) == generate_rdfox_script(**shuffled)


def test_directories_are_configurable() -> None:
    script = generate_rdfox_script(**FILES, data_dir="/tmp/d", output_dir="/tmp/o/", scripts_dir="/s")
    assert 'import "/tmp/d/part-0001.nt"' in script
    assert 'set output "/tmp/o/data/extract1.rq.nt"' in script


def test_prefixes_come_after_the_store_is_active() -> None:
    lines = _lines(prefixes={"tx": "http://oxfordsemantic.tech/transactions/entities#"})
    assert lines.index("prefix tx: <http://oxfordsemantic.tech/transactions/entities#>") > lines.index(
        "active transactions"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"data_files": []}, "at least one data file"),
        ({"data_files": ['x".nt']}, "must not contain quotes"),
        ({"data_files": ["$(loadStart).nt"]}, "must not contain quotes, backslashes, '\\$'"),
        ({"data_files": ["a\nquit.nt"]}, "control characters"),
        ({"data_files": ["../etc/passwd.nt"]}, "relative path inside the dataset"),
        ({"query_files": ["a/q.rq", "b/q.rq"]}, "would both write 'q.rq.nt'"),
        ({"prefixes": {"bad prefix": "http://x/"}}, "not a valid prefix name"),
        ({"prefixes": {"p": "http://x/> .\nquit <"}}, "not allowed in an IRI"),
        ({"data_dir": "relative"}, "must be an absolute path"),
    ],
)
def test_unsafe_or_unusable_input_is_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _lines(**overrides)


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30), max_size=8
    )
)
def test_no_file_name_can_add_a_command(names: list[str]) -> None:
    # Whatever names S3 holds, the script has exactly one line per expected command, or generation refuses.
    try:
        script = generate_rdfox_script(
            rule_files=[], data_files=[f"{n}.nt" for n in names] or ["x.nt"], query_files=[]
        )
    except ValueError:
        return
    expected_imports = len(set(names)) if names else 1
    imports = [line for line in script.splitlines() if line.startswith("import ")]
    assert len(imports) == len(names) or (not names and len(imports) == expected_imports)
    assert all(line.count('"') == 2 for line in imports)


def test_classify_dataset_files() -> None:
    files = classify_dataset_files(
        ["b.dlog", "x.count.rq", "q.rq", "d.nt", "d2.ttl.gz", "DATASET.rdfoxjob.json", "notes.txt", "sub/"]
    )
    assert files.rules == ("b.dlog",)
    assert files.data == ("d.nt", "d2.ttl.gz")
    assert files.queries == ("q.rq",)
    assert files.count_queries == ("x.count.rq",)
    assert dict(files.ignored) == {
        "DATASET.rdfoxjob.json": "jobspec", "notes.txt": "unrecognised file type", "sub/": "folder marker",
    }  # fmt: skip


def test_query_output_name() -> None:
    assert query_output_name("nested/extract1.rq") == "extract1.rq.nt"
