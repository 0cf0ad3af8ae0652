"""Issue 12: the old system's prefixes, `base` + IRI(), SELECT ?S ?P ?O answers and running counts."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdfox_local.reasoner.api import reason
from rdfox_local.reasoner.iri import resolve
from rdfox_local.reasoner.pathmap import PathMap
from rdfox_local.reasoner.shell import Shell
from rdfox_local.steps.prepare import rewrite_triple_selects
from rdfox_pipeline.domain.jobspec import JobSpecError, parse_jobspec
from rdfox_pipeline.domain.prefixes import DEFAULT_PREFIXES
from rdfox_pipeline.domain.rdfox_log import parse_rdfox_log
from rdfox_pipeline.domain.settings import SettingsError, resolve_settings
from rdfox_pipeline.pod.manifest import build_pod_manifest
from rdfox_pipeline.pod.script import generate_rdfox_script, triple_select_as_construct

T = "http://oxfordsemantic.tech/transactions/"
OLD_PREFIXES = {
    "": f"{T}entities#",
    "prop": f"{T}properties#",
    "type": f"{T}classes#",
    "tt": f"{T}tupletables#",
}


# -- 1. prefixes -----------------------------------------------------------------------------------------
def test_the_old_pods_four_prefixes_are_the_default() -> None:
    assert DEFAULT_PREFIXES == OLD_PREFIXES
    assert resolve_settings().rdfox_prefixes == OLD_PREFIXES


def test_prefixes_setting_text_and_json_forms() -> None:
    text = f":={T}e# ex:=http://example.org/x#\n  prop={T}p#"
    assert resolve_settings(env={"RDFOX_PREFIXES": text}).rdfox_prefixes == {
        "": f"{T}e#",
        "ex": "http://example.org/x#",
        "prop": f"{T}p#",
    }
    as_json = json.dumps({"ex": "http://example.org/"})
    assert resolve_settings(ssm={"RDFOX_PREFIXES": as_json}).rdfox_prefixes == {"ex": "http://example.org/"}
    assert resolve_settings({"RDFOX_PREFIXES": {"ex:": "urn:x:"}}).rdfox_prefixes == {"ex": "urn:x:"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ex http://x/", "expected NAME=IRI"),
        ("1x=http://x/", "'1x' is not a valid prefix name"),
        ("ex=relative/path", "must be absolute"),
        ('{"ex": "http://x/> .\\nquit <"}', "not allowed in an IRI"),
        ('{"ex": "http://x/$(loadStart)"}', r"contains '\$'"),
        ('{"ex": "http://x/", "ex:": "http://y/"}', "given twice"),
        ("[1]", "expected a JSON object"),
    ],
)
def test_bad_prefixes_setting_names_the_setting(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        resolve_settings(env={"RDFOX_PREFIXES": value})
    assert str(caught.value).startswith("RDFOX_PREFIXES: ")


def test_jobspec_prefixes_add_to_and_replace_the_settings() -> None:
    spec = parse_jobspec(
        {
            "dataset": "LEGACY",
            "job_bucket": "in-bucket",
            "output_bucket": "out-bucket",
            "rdfox": {"prefixes": {"ex": "http://example.org/", "type:": "http://example.org/classes#"}},
        }
    )
    manifest = build_pod_manifest(spec, "LEGACY_2021-08-01_000", resolve_settings())
    prepare = manifest["spec"]["initContainers"][0]
    env = {e["name"]: e.get("value") for e in prepare["env"]}
    assert json.loads(env["RDFOX_PREFIXES"]) == {
        **OLD_PREFIXES,
        "ex": "http://example.org/",
        "type": "http://example.org/classes#",
    }
    with pytest.raises(JobSpecError, match=r"^rdfox\.prefixes: 'a b' is not a valid prefix name"):
        parse_jobspec({"dataset": "LEGACY", "rdfox": {"prefixes": {"a b": "http://x/"}}})


def test_script_declares_the_prefixes_after_the_store_is_active() -> None:
    lines = generate_rdfox_script(rule_files=[], data_files=["d.nt"], query_files=[], prefixes=OLD_PREFIXES)
    lines = lines.splitlines()
    declared = [line for line in lines if line.startswith("prefix ")]
    assert declared == [
        f"prefix : <{T}entities#>",
        f"prefix prop: <{T}properties#>",
        f"prefix tt: <{T}tupletables#>",
        f"prefix type: <{T}classes#>",
    ]
    assert lines.index(declared[0]) > lines.index("active transactions")
    assert lines.index(declared[-1]) < next(i for i, line in enumerate(lines) if line.startswith("import"))


def test_rules_without_prefix_declarations_reason_under_the_default_prefixes() -> None:
    rules = "type:Big[?t] :- prop:hasAmount[?t, ?a], FILTER(?a > 10) .\n"
    data = f"<{T}entities#t1> <{T}properties#hasAmount> 20 .\n"
    store, _ = reason(rules, data, prefixes=OLD_PREFIXES)
    assert (
        f"<{T}entities#t1>",
        "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>",
        f"<{T}classes#Big>",
    ) in set(store)


# -- 2. base and IRI() -----------------------------------------------------------------------------------
def test_iri_of_a_relative_string_resolves_against_the_files_base() -> None:
    rules = (
        f"base <{T}>\n"
        "prop:chain[?t, ?c] :- type:Transaction[?t],\n"
        '    BIND(IRI(MD5(CONCAT("PartialChain", STR(?t)))) AS ?c) .\n'
        'prop:up[?t, ?u] :- type:Transaction[?t], BIND(IRI("../other") AS ?u) .\n'
    )
    data = f"<{T}entities#t1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{T}classes#Transaction> .\n"
    store, _ = reason(rules, data, prefixes=OLD_PREFIXES)
    digest = hashlib.md5(f"PartialChain{T}entities#t1".encode()).hexdigest()  # nosec B324
    facts = set(store)
    assert (f"<{T}entities#t1>", f"<{T}properties#chain>", f"<{T}{digest}>") in facts
    assert (f"<{T}entities#t1>", f"<{T}properties#up>", "<http://oxfordsemantic.tech/other>") in facts


def test_iri_of_a_relative_string_without_a_base_binds_nothing() -> None:
    rules = 'prop:chain[?t, ?c] :- type:Transaction[?t], BIND(IRI("rel") AS ?c) .\n'
    data = f"<{T}entities#t1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{T}classes#Transaction> .\n"
    store, _ = reason(rules, data, prefixes=OLD_PREFIXES)
    assert not [f for f in store if f[1] == f"<{T}properties#chain>"]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("g", "http://a/b/c/g"), ("../g", "http://a/b/g"), ("#s", "http://a/b/c/d;p?q#s"), ("//g", "http://g")],
)
def test_rfc3986_resolution(reference: str, expected: str) -> None:
    assert resolve("http://a/b/c/d;p?q", reference) == expected


# -- 3. SELECT ?S ?P ?O under an RDF answer format -------------------------------------------------------
def _run(tmp_path: Path, data: str, queries: dict[str, str], counts: dict[str, str] | None = None) -> Path:
    dirs = {name: tmp_path / name for name in ("data", "output", "scripts")}
    for path in dirs.values():
        path.mkdir(parents=True)
    (dirs["data"] / "d.nt").write_text(data, encoding="utf-8")
    for name, text in {**queries, **(counts or {})}.items():
        (dirs["data"] / name).write_text(text, encoding="utf-8")
    script = generate_rdfox_script(
        rule_files=[],
        data_files=["d.nt"],
        query_files=list(queries),
        count_query_files=list(counts or {}),
        prefixes=OLD_PREFIXES,
    )
    (dirs["scripts"] / "job.rdfox").write_text(script, encoding="utf-8")
    log = io.StringIO()
    shell = Shell("/data", log, path_map=PathMap({f"/{n}": str(p) for n, p in dirs.items()}))
    assert shell.run_commands(["exec /scripts/job.rdfox"]) == 0, log.getvalue()
    (dirs["output"] / "rdfox.log").write_text(log.getvalue(), encoding="utf-8")
    return dirs["output"]


DATA = (
    f"<{T}entities#c1> a <{T}classes#SuspiciousChain> .\n"
    f'<{T}entities#c1> <{T}properties#hasMinimumAmount> "5"^^<http://www.w3.org/2001/XMLSchema#decimal> .\n'
    f'<{T}entities#c1> <{T}properties#label> "chain \\"one\\"\\n" .\n'
).replace(" a ", " <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> ")
OLD_QUERY = "SELECT ?S ?P ?O WHERE { ?S a type:SuspiciousChain . ?S ?P ?O }\n"


def test_old_select_query_writes_ntriples(tmp_path: Path) -> None:
    out = _run(tmp_path, DATA, {"extract.rq": OLD_QUERY})
    text = (out / "data" / "extract.rq.nt").read_text(encoding="utf-8")
    got = set(ox.parse(text.encode(), format=ox.RdfFormat.N_TRIPLES))
    assert got == set(ox.parse(DATA.encode(), format=ox.RdfFormat.N_TRIPLES))
    assert len(text.splitlines()) == 3


def test_answers_that_are_no_triples_are_left_out_and_said_so(tmp_path: Path) -> None:
    query = "SELECT ?O ?P ?S WHERE { ?S a type:SuspiciousChain . ?S ?P ?O }\n"  # literal subjects
    out = _run(tmp_path, DATA, {"swapped.rq": query})
    lines = (out / "data" / "swapped.rq.nt").read_text().splitlines()
    assert len(lines) == 1  # only the rdf:type answer has an IRI in ?O
    log = (out / "rdfox.log").read_text()
    assert "Note: 2 of 3 answers are not RDF triples and were left out" in log
    assert "subject ?O is" in log


def test_prepare_rewrites_old_selects_into_the_same_triples(tmp_path: Path) -> None:
    direct = _run(tmp_path / "select", DATA, {"extract.rq": OLD_QUERY})
    data = tmp_path / "rewritten"
    data.mkdir()
    (data / "extract.rq").write_text(OLD_QUERY, encoding="utf-8")
    (data / "counts.rq").write_text("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }\n", encoding="utf-8")
    assert rewrite_triple_selects(data, ["extract.rq", "counts.rq"]) == ["extract.rq"]
    rewritten = (data / "extract.rq").read_text()
    assert rewritten.startswith("CONSTRUCT { ?S ?P ?O }")
    via_construct = _run(tmp_path / "construct", DATA, {"extract.rq": rewritten})
    assert sorted((via_construct / "data" / "extract.rq.nt").read_text().splitlines()) == sorted(
        (direct / "data" / "extract.rq.nt").read_text().splitlines()
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT ?S ?P ?O WHERE { ?S ?P ?O }", "CONSTRUCT { ?S ?P ?O }\nWHERE { ?S ?P ?O }"),
        (
            "# SELECT ?a\nPREFIX t: <http://x/>\nselect distinct $s ?p ?o {?s ?p ?o} LIMIT 2",
            "# SELECT ?a\nPREFIX t: <http://x/>\nCONSTRUCT { $s ?p ?o }\n{?s ?p ?o} LIMIT 2",
        ),
        ("SELECT ?S ?P WHERE { ?S ?P ?O }", None),
        ("SELECT ?S ?P ?O ?X WHERE { ?S ?P ?O }", None),
        ("SELECT * WHERE { ?S ?P ?O }", None),
        ("SELECT (COUNT(*) AS ?n) WHERE { ?S ?P ?O }", None),
        ("CONSTRUCT { ?S ?P ?O } WHERE { ?S ?P ?O }", None),
    ],
)
def test_triple_select_as_construct(query: str, expected: str | None) -> None:
    assert triple_select_as_construct(query) == expected


# -- 4. running counts -----------------------------------------------------------------------------------
def test_default_running_counts_without_count_queries(tmp_path: Path) -> None:
    rdf_type = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    data = "".join(
        f"<{T}entities#{c}> {rdf_type} <{T}classes#{k}> .\n"
        for c, k in [("a", "ForwardChain"), ("b", "BackwardChain"), ("a", "FullChain"), ("c", "ForwardChain")]
    )
    out = _run(tmp_path, data, {})
    log = (out / "rdfox.log").read_text()
    section = log[log.index("running-counts") : log.index("end-running-counts")]
    assert "partialChainCount\n3\n" in section and "fullChainCount\n1\n" in section
    stats = parse_rdfox_log(log)
    assert stats.counts == {"partialChainCount": 3, "fullChainCount": 1}


def test_default_running_counts_are_zero_when_nothing_matches(tmp_path: Path) -> None:
    out = _run(tmp_path, f"<{T}x> <{T}p> <{T}y> .\n", {})
    assert parse_rdfox_log((out / "rdfox.log").read_text()).counts == {
        "partialChainCount": 0,
        "fullChainCount": 0,
    }


def test_a_datasets_own_count_queries_replace_the_defaults(tmp_path: Path) -> None:
    own = {"mine.count.rq": "SELECT (COUNT(*) AS ?tripleCount) WHERE { ?s ?p ?o }\n"}
    out = _run(tmp_path, f"<{T}x> <{T}p> <{T}y> .\n", {}, own)
    assert parse_rdfox_log((out / "rdfox.log").read_text()).counts == {"tripleCount": 1}
