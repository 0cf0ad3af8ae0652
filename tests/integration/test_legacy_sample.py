"""The legacy-style sample (include/samples/legacy-style/): old rules and queries, run with no flags.

`rdfox-pipeline reason DIR --out OUT` must exit 0 and its answers must equal an independent evaluation:
the same rules as SPARQL UPDATEs run on pyoxigraph stratum by stratum until nothing new appears, then the
queries run by pyoxigraph.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "include" / "samples" / "legacy-style"
CLI = [sys.executable, "-m", "rdfox_pipeline.cli.main"]
T = "http://oxfordsemantic.tech/transactions/"
PROLOGUE = f"""BASE <{T}>
PREFIX prop: <{T}properties#>
PREFIX type: <{T}classes#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""

# chains.dlog, written independently as SPARQL UPDATE, one list per stratum.
CHAINS = [
    """INSERT { ?chain a type:ForwardChain ; prop:hasFirstTransaction ?tx ; prop:hasLastTransaction ?tx ;
                  prop:hasChainLength 1 ; prop:hasChainTransaction ?tx ; prop:hasChainOriginator ?from }
       WHERE { ?tx a type:Transaction ; prop:hasOriginator ?from . ?from prop:isSuspicious true .
               BIND(IRI(MD5(CONCAT("PartialChain", STR(?tx)))) AS ?chain) }""",
    """INSERT { ?longer a type:ForwardChain ; prop:extendsChain ?chain ; prop:hasFirstTransaction ?first ;
                  prop:hasLastTransaction ?next ; prop:hasChainLength ?len2 ; prop:hasChainTransaction ?next ;
                  prop:hasChainOriginator ?from }
       WHERE { ?chain a type:ForwardChain ; prop:hasChainLength ?len ; prop:hasLastTransaction ?last ;
                      prop:hasFirstTransaction ?first ; prop:hasChainOriginator ?from .
               FILTER(?len < 4)
               ?last prop:hasBeneficiary ?via ; prop:hasDate ?when .
               ?next prop:hasOriginator ?via ; prop:hasDate ?later .
               FILTER(?later > ?when && ?later - ?when <= "P2D"^^xsd:dayTimeDuration)
               BIND(?len + 1 AS ?len2)
               BIND(IRI(MD5(CONCAT("PartialChain", STR(?chain), STR(?next)))) AS ?longer) }""",
    """INSERT { ?longer prop:hasChainTransaction ?tx }
       WHERE { ?longer prop:extendsChain ?chain . ?chain prop:hasChainTransaction ?tx }""",
]
FULL = [
    """INSERT { ?chain a type:FullChain ; prop:reachesParty ?to }
       WHERE { ?chain a type:ForwardChain ; prop:hasLastTransaction ?last ; prop:hasChainOriginator ?from .
               ?last prop:hasBeneficiary ?to . ?to prop:isSuspicious true . FILTER(?to != ?from) }""",
]
MINIMUM = [
    """INSERT { ?chain prop:hasMinimumAmount ?minimum }
       WHERE { { SELECT ?chain (MIN(?amount) AS ?minimum)
                 WHERE { ?chain a type:FullChain ; prop:hasChainTransaction ?tx . ?tx prop:hasAmount ?amount }
                 GROUP BY ?chain } }""",
]
SUSPICIOUS = [
    """INSERT { ?chain a type:SuspiciousChain }
       WHERE { ?chain prop:hasMinimumAmount ?minimum . FILTER(?minimum >= 5000000) }""",
]


def _fixpoint(store: ox.Store, updates: list[str]) -> None:
    while True:
        before = len(store)
        for update in updates:
            store.update(PROLOGUE + update)
        if len(store) == before:
            return


def _triples(text: str) -> set[ox.Triple]:
    quads = ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)
    return {ox.Triple(q.subject, q.predicate, q.object) for q in quads}


def independent_answers() -> tuple[dict[str, set[ox.Triple]], dict[str, int]]:
    store = ox.Store()
    store.load(path=str(SAMPLE / "transactions.nt"), format=ox.RdfFormat.N_TRIPLES)
    for stratum in (CHAINS, FULL, MINIMUM, SUSPICIOUS):
        _fixpoint(store, stratum)
    answers = {}
    for query in sorted(SAMPLE.glob("*.rq")):
        result = store.query(PROLOGUE + query.read_text(encoding="utf-8"))
        answers[f"{query.name}.nt"] = {ox.Triple(row[0], row[1], row[2]) for row in result}
    counts = {}
    for name, classes in (
        ("partialChainCount", "type:ForwardChain type:BackwardChain"),
        ("fullChainCount", "type:FullChain"),
    ):
        values = " ".join(classes.split())
        query = f"SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE {{ VALUES ?k {{ {values} }} ?c a ?k }}"
        counts[name] = int(next(iter(store.query(PROLOGUE + query)))[0].value)
    return answers, counts


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RDFOX_")}  # the local engine
    clean["HOME"] = str(tmp_path / "home")
    return clean


def test_legacy_sample_reasons_with_no_flags_and_matches_an_independent_evaluation(
    tmp_path: Path, env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [*CLI, "reason", str(SAMPLE), "--out", str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    expected, counts = independent_answers()
    files = sorted(p.name for p in (out / "data").iterdir())
    assert files == sorted(expected) == ["fullchains.rq.nt", "suspicious.rq.nt"]
    for name, triples in expected.items():
        text = (out / "data" / name).read_text(encoding="utf-8")
        assert text.endswith(" .\n")
        got = _triples(text)  # parses as N-Triples, or the test fails here
        assert len(got) == len(text.splitlines()), f"{name}: a triple is written twice"
        assert triples, f"{name}: the sample should find something"
        assert got == triples, f"{name}: {len(got ^ triples)} triples differ"
    # Chain nodes are IRIs under the rule file's base, not relative IRIs.
    suspicious = _triples((out / "data" / "suspicious.rq.nt").read_text(encoding="utf-8"))
    assert all(str(t.subject.value).startswith(T) and "#" not in t.subject.value for t in suspicious)

    parsed = subprocess.run(
        [*CLI, "log", "parse", str(out / "rdfox.log")], capture_output=True, text=True, env=env, timeout=60
    )
    assert parsed.returncode == 0, parsed.stderr
    assert f'"partialChainCount": {counts["partialChainCount"]}' in parsed.stdout
    assert f'"fullChainCount": {counts["fullChainCount"]}' in parsed.stdout
    assert counts["fullChainCount"] > 0
