"""The RDFox script runner: the prepare step's script runs, writes answers, and logs what the log
parser reads."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from rdfox_local.reasoner import ENGINE_BANNER
from rdfox_local.reasoner.pathmap import PathMap
from rdfox_local.reasoner.shell import Shell
from rdfox_pipeline.domain.rdfox_log import RdfoxLogError, parse_rdfox_log
from rdfox_pipeline.pod.script import generate_rdfox_script

EX = "http://ex/"
RULES = """PREFIX ex: <http://ex/>
# tc: reachability along ex:e
ex:tc[?x, ?y] :- ex:e[?x, ?y] .
ex:tc[?x, ?z] :- ex:tc[?x, ?y], ex:e[?y, ?z] .
ex:Sink[?y] :- ex:tc[?x, ?y], NOT EXISTS ?z IN ex:e[?y, ?z] .
"""
# a -> b -> c -> d, and x -> c: tc has 6 + 2 = 8 pairs; sinks: d.
EDGES = [("a", "b"), ("b", "c"), ("c", "d"), ("x", "c")]
QUERY = "PREFIX ex: <http://ex/>\nCONSTRUCT { ?x ex:reaches ?y } WHERE { ?x ex:tc ?y . FILTER(?x = ex:a) }\n"
SINKS = "PREFIX ex: <http://ex/>\nCONSTRUCT { ?y a ex:Sink } WHERE { ?y a ex:Sink }\n"
COUNT = "PREFIX ex: <http://ex/>\nSELECT (COUNT(*) AS ?pairCount) WHERE { ?x ex:tc ?y }\n"
FIXED_NOW = dt.datetime(2021, 7, 30, 19, 41, 3)


def iri(local: str) -> str:
    return f"<{EX}{local}>"


@pytest.fixture
def pod(tmp_path: Path) -> dict[str, Path]:
    """A pod's three directories on disk, with a small dataset in /data."""
    dirs = {name: tmp_path / name for name in ("data", "output", "scripts")}
    for path in dirs.values():
        path.mkdir()
    (dirs["output"] / "data").mkdir()
    data = dirs["data"]
    (data / "rules.dlog").write_text(RULES, encoding="utf-8")
    (data / "part-1.nt").write_text(
        "".join(f"{iri(s)} {iri('e')} {iri(o)} .\n" for s, o in EDGES[:2]), encoding="utf-8"
    )
    (data / "part-2.ttl").write_text(
        f"@prefix ex: <{EX}> .\n" + "".join(f"ex:{s} ex:e ex:{o} .\n" for s, o in EDGES[2:]), encoding="utf-8"
    )
    (data / "reach.rq").write_text(QUERY, encoding="utf-8")
    (data / "sinks.rq").write_text(SINKS, encoding="utf-8")
    (data / "pairs.count.rq").write_text(COUNT, encoding="utf-8")
    return dirs


def path_map(pod: dict[str, Path]) -> PathMap:
    return PathMap({f"/{name}": str(path) for name, path in pod.items()})


def write_script(pod: dict[str, Path], rules: tuple[str, ...] = ("rules.dlog",), **kwargs: object) -> None:
    script = generate_rdfox_script(
        rule_files=rules,
        data_files=("part-1.nt", "part-2.ttl"),
        query_files=("reach.rq", "sinks.rq"),
        count_query_files=("pairs.count.rq",),
        **kwargs,  # type: ignore[arg-type]
    )
    (pod["scripts"] / "job.rdfox").write_text(script, encoding="utf-8")


def run(pod: dict[str, Path], commands: list[str], mode: str = "semi-naive") -> tuple[int, str]:
    out = io.StringIO()
    shell = Shell("/data", out, path_map=path_map(pod), mode=mode, clock=lambda: FIXED_NOW)  # type: ignore[arg-type]
    status = shell.run_commands(commands)
    return status, out.getvalue()


def nt_lines(path: Path) -> set[str]:
    return {line for line in path.read_text(encoding="utf-8").splitlines() if line}


@pytest.mark.parametrize("mode", ["semi-naive", "naive"])
def test_the_prepare_steps_script_runs_and_its_log_parses(pod: dict[str, Path], mode: str) -> None:
    write_script(pod)
    status, log = run(pod, ["exec /scripts/job.rdfox"], mode)
    assert status == 0, log
    assert log.splitlines()[0] == ENGINE_BANNER
    # Answers land where the pod's publish step looks for them.
    assert nt_lines(pod["output"] / "data" / "reach.rq.nt") == {
        f"{iri('a')} {iri('reaches')} {iri(t)} ." for t in "bcd"
    }
    rdf_type = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    assert nt_lines(pod["output"] / "data" / "sinks.rq.nt") == {f"{iri('d')} {rdf_type} {iri('Sink')} ."}

    stats = parse_rdfox_log(log)
    assert stats.triples_input_amount == 4
    assert stats.triples_materialised_amount == 8 + 1  # 8 tc pairs and one sink
    assert stats.triples_total_amount == 13
    assert stats.query_answers == {"reach.rq": 3, "sinks.rq": 1}
    assert stats.counts == {"pairCount": 8}
    assert stats.time_total == 0  # the fixed clock: every marker is the same second
    assert stats.memory_usage and stats.memory_usage > 0
    assert stats.triples_avg_size == pytest.approx(stats.memory_usage / 13, abs=0.001)
    assert f"Evaluation: {mode}" in log


def test_info_reports_edb_and_idb_counts(pod: dict[str, Path]) -> None:
    write_script(pod)
    _, log = run(pod, ["exec /scripts/job.rdfox"])
    info = log[log.index("---info---") : log.index("---endinfo---")]
    assert re.search(r"Aggregate number of EDB facts\s*:\s*4\b", info)
    assert re.search(r"Aggregate number of IDB facts\s*:\s*13\b", info)
    assert re.search(r"Number of rules\s*:\s*3\b", info)
    assert ENGINE_BANNER in info


def test_a_bad_rule_file_stops_the_script_at_its_line(pod: dict[str, Path]) -> None:
    (pod["data"] / "bad.dlog").write_text(
        "PREFIX ex: <http://ex/>\nex:q[?x] :- ex:p[?x, ?y],\n  OPTIONAL ex:r[?x] .\n", encoding="utf-8"
    )
    write_script(pod, rules=("bad.dlog", "rules.dlog"))
    script_lines = (pod["scripts"] / "job.rdfox").read_text(encoding="utf-8").splitlines()
    import_line = script_lines.index('import "/data/bad.dlog"') + 1
    status, log = run(pod, ["exec /scripts/job.rdfox"])
    assert status == 1
    errors = [line for line in log.splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR: /scripts/job.rdfox:{import_line}: /data/bad.dlog:3:3: unsupported construct "
        "'OPTIONAL' in a rule body"
    ]
    assert "TOTALTIME" not in log  # on-error stop: nothing after the failing command ran
    with pytest.raises(RdfoxLogError):
        parse_rdfox_log(log)


def test_an_unstratifiable_program_fails_the_run_naming_the_rules(pod: dict[str, Path]) -> None:
    (pod["data"] / "rules.dlog").write_text(
        "PREFIX ex: <http://ex/>\nex:p[?x] :- ex:e[?x, ?y], NOT ex:r[?x] .\nex:r[?x] :- ex:p[?x] .\n",
        encoding="utf-8",
    )
    write_script(pod)
    status, log = run(pod, ["exec /scripts/job.rdfox"])
    assert status == 1
    error = next(line for line in log.splitlines() if line.startswith("ERROR"))
    assert "not stratifiable" in error and "/data/rules.dlog:2" in error and "/data/rules.dlog:3" in error


def test_prefixes_from_the_jobspec_reach_rules_and_queries(pod: dict[str, Path]) -> None:
    (pod["data"] / "rules.dlog").write_text("ex:tc[?x, ?y] :- ex:e[?x, ?y] .\n", encoding="utf-8")
    (pod["data"] / "reach.rq").write_text("SELECT ?y WHERE { ex:a ex:tc ?y }\n", encoding="utf-8")
    write_script(pod, prefixes={"ex": EX})
    status, log = run(pod, ["exec /scripts/job.rdfox"])
    assert status == 0, log
    assert parse_rdfox_log(log).query_answers["reach.rq"] == 1


def test_echo_substitutes_variables_and_tstamp_uses_rdfoxs_format(pod: dict[str, Path]) -> None:
    status, log = run(pod, ["tstamp start", "echo started $(start) in $(dir.root)", "quit", "echo never"])
    assert status == 0
    assert "started 30-Jul-2021 19:41:03 in /data/" in log
    assert "never" not in log


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("echo $(nope)", "undefined shell variable $(nope)"),
        ("frobnicate now", "unknown or unsupported command 'frobnicate'"),
        ("set no.such.setting 1", "unknown shell variable 'no.such.setting'"),
        ("dstore create old type par-complex-nw", "not supported since RDFox 6.0"),
        ("import /data/part-1.nt", "no data store is active"),
        ("rollback", "unsupported command 'rollback'"),
        ("endpoint stop", "only 'endpoint start'"),
        ("base relative", "usage: base <absolute-iri>"),
    ],
)
def test_errors_name_the_command_line(pod: dict[str, Path], command: str, message: str) -> None:
    status, log = run(pod, ["set on-error continue", command, "echo still running"])
    assert status == 0  # on-error continue: RDFox's default goes on
    error = next(line for line in log.splitlines() if line.startswith("ERROR"))
    assert error.startswith("ERROR: <command line>:2: ") and message in error
    assert "still running" in log


def test_base_and_prefix_commands_apply_to_rule_files_imported_later(pod: dict[str, Path]) -> None:
    (pod["data"] / "rel.dlog").write_text("<q>[?x, ?y] :- e:e[?x, ?y] .\n", encoding="utf-8")
    status, log = run(
        pod,
        [
            "set on-error stop",
            "dstore create s",
            "active s",
            f"prefix e: <{EX}>",
            "base <http://base/>",
            'import "/data/rel.dlog" "/data/part-1.nt"',
            "SELECT (COUNT(*) AS ?qCount) WHERE { ?x <http://base/q> ?y }",
        ],
    )
    assert status == 0, log
    assert "qCount\n2\n" in log
    assert "endpoint start: acknowledged" in run(pod, ["endpoint start"])[1]


def test_explicit_and_all_fact_domains(pod: dict[str, Path]) -> None:
    status, log = run(
        pod,
        [
            "dstore create s",
            "active s",
            'import "/data/rules.dlog" "/data/part-1.nt"',
            "set query.fact-domain explicit",
            "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
            "set query.fact-domain all",
            "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
        ],
    )
    assert status == 0, log
    # a -> b -> c: 2 edges, tc has 3 pairs, c is a sink.
    assert re.findall(r"^n\n(\d+)$", log, re.M) == ["2", "6"]


def test_path_map_maps_only_whole_path_components() -> None:
    mapping = PathMap({"/data": "/tmp/d", "/data/sub": "/elsewhere", "/output/": "/tmp/o"})
    assert mapping.map("/data/x.nt") == "/tmp/d/x.nt"
    assert mapping.map("/data/sub/y.nt") == "/elsewhere/y.nt"
    assert mapping.map("/database/x") == "/database/x"
    assert mapping.map("/output") == "/tmp/o"
    assert not PathMap()
    with pytest.raises(ValueError, match="not valid JSON"):
        PathMap.from_env({"RDFOX_LOCAL_PATH_MAP": "{nope"})
    with pytest.raises(ValueError, match="absolute pod paths"):
        PathMap.from_env({"RDFOX_LOCAL_PATH_MAP": '{"data": "/tmp"}'})


def test_gzipped_data_and_answer_formats(pod: dict[str, Path]) -> None:
    import gzip

    with gzip.open(pod["data"] / "edges.nt.gz", "wt", encoding="utf-8") as handle:
        handle.write("".join(f"{iri(s)} {iri('e')} {iri(o)} .\n" for s, o in EDGES))
    select = "SELECT ?y WHERE { <http://ex/a> <http://ex/tc> ?y } ORDER BY ?y"
    status, log = run(
        pod,
        [
            "set on-error stop",
            "dstore create s",
            "active s",
            'import "/data/rules.dlog" "/data/edges.nt.gz"',
            "set query.answer-format text/tab-separated-values",
            select,
            "set query.answer-format application/sparql-results+json",
            select,
            "set query.answer-format text/turtle",
            "CONSTRUCT { ?y a <http://ex/Sink> } WHERE { ?y a <http://ex/Sink> }",
            "set query.answer-format text/csv",
            "ASK { <http://ex/x> <http://ex/tc> <http://ex/d> }",
        ],
    )
    assert status == 0, log
    assert f"?y\n{iri('b')}\n{iri('c')}\n{iri('d')}\n" in log
    start = log.index('{"head"')
    answer = json.loads(log[start : log.index("\n", start)])
    assert [b["y"]["value"] for b in answer["results"]["bindings"]] == [EX + "b", EX + "c", EX + "d"]
    assert re.search(r"<http://ex/d> a <http://ex/Sink> \.", log)
    assert "\ntrue\n" in log  # x -> c -> d


def test_a_second_materialisation_retracts_what_no_longer_holds(pod: dict[str, Path]) -> None:
    # After part-2 arrives, c has an outgoing edge: c is no longer a sink, d is (a -> b -> c -> d).
    count_sinks = "SELECT (COUNT(*) AS ?sinkCount) WHERE { ?y a <http://ex/Sink> }"
    status, log = run(
        pod,
        [
            "set on-error stop",
            "dstore create s",
            "active s",
            'import "/data/rules.dlog" "/data/part-1.nt"',
            count_sinks,
            "SELECT ?y WHERE { ?y a <http://ex/Sink> }",
            'import "/data/part-2.ttl"',
            "SELECT ?y WHERE { ?y a <http://ex/Sink> }",
            "info",
        ],
    )
    assert status == 0, log
    assert re.findall(r"^y\n(\S+)$", log, re.M) == [EX + "c", EX + "d"]
    assert re.search(r"Aggregate number of IDB facts\s*:\s*13\b", log)
