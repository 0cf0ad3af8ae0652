"""The sample rules (include/samples/*.dlog) on generated data find the chains a plain-Python search finds.

The reference below walks the transactions directly (dicts, datetimes, hashlib) following the rules' prose:
a chain starts at each transaction of a suspicious originator; it is extended by a transaction leaving the
last beneficiary later than, and at most 3 days after, the last transaction, up to 6 transactions; a full
chain's last beneficiary is another suspicious party; a partial chain is neither full nor extended; a
high-value chain moves at least 100,000,000 in each of its transactions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdfox_local.reasoner.datastore import DataStore
from rdfox_local.samplegen import SampleOptions, write_sample

SAMPLES = Path(__file__).resolve().parents[2] / "include" / "samples"
ENT = "http://oxfordsemantic.tech/transactions/entities#"
PROP = "http://oxfordsemantic.tech/transactions/properties#"
CLS = "http://oxfordsemantic.tech/transactions/classes#"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
MAX_LENGTH, WINDOW, HIGH_VALUE = 6, dt.timedelta(days=3), Decimal(100_000_000)


@dataclass(frozen=True)
class Chain:
    iri: str
    originator: str
    members: tuple[str, ...]  # transaction IRIs in order


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def reference_chains(triples: list[ox.Triple]) -> list[Chain]:
    props: dict[str, dict[str, str]] = defaultdict(dict)
    for t in triples:
        props[t.subject.value][t.predicate.value.removeprefix(PROP)] = t.object.value
    transactions = {s: p for s, p in props.items() if "hasOriginator" in p}
    suspicious = {s for s, p in props.items() if p.get("isSuspicious") == "true"}
    leaving: dict[str, list[str]] = defaultdict(list)
    for tx, p in transactions.items():
        leaving[p["hasOriginator"]].append(tx)

    def date(tx: str) -> dt.datetime:
        return dt.datetime.fromisoformat(transactions[tx]["hasDate"])

    chains: list[Chain] = []
    frontier = [
        Chain(f"{ENT}chain_{md5(tx)}", p["hasOriginator"], (tx,))
        for tx, p in transactions.items()
        if p["hasOriginator"] in suspicious
    ]
    while frontier:
        chains.extend(frontier)
        grown = []
        for chain in frontier:
            if len(chain.members) >= MAX_LENGTH:
                continue
            last = chain.members[-1]
            for nxt in leaving[transactions[last]["hasBeneficiary"]]:
                if date(last) < date(nxt) <= date(last) + WINDOW:
                    iri = f"{ENT}chain_{md5(chain.iri + '|' + nxt)}"
                    grown.append(Chain(iri, chain.originator, (*chain.members, nxt)))
        frontier = grown
    return chains


def classify(chains: list[Chain], triples: list[ox.Triple]) -> dict[str, set[str]]:
    props: dict[str, dict[str, str]] = defaultdict(dict)
    for t in triples:
        props[t.subject.value][t.predicate.value.removeprefix(PROP)] = t.object.value
    by_iri = {c.iri: c for c in chains}
    by_members = {c.members: c.iri for c in chains}  # a chain's members determine its originator
    extended = {by_members[c.members[:-1]] for c in chains if len(c.members) > 1}
    full = {
        c.iri
        for c in chains
        if props[props[c.members[-1]]["hasBeneficiary"]].get("isSuspicious") == "true"
        and props[c.members[-1]]["hasBeneficiary"] != c.originator
    }
    partial = {iri for iri in by_iri if iri not in full and iri not in extended}
    high = {c.iri for c in chains if min(Decimal(props[t]["hasAmount"]) for t in c.members) >= HIGH_VALUE}
    return {"Chain": set(by_iri), "FullChain": full, "PartialChain": partial, "HighValueChain": high}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ox.Triple]]:
    directory = tmp_path_factory.mktemp("sample")
    # Dense enough for chains of every length (459 chains, 40 full, 8 high-value), small enough to be quick.
    options = SampleOptions(transactions=300, parties=60, suspicious_share=0.1, max_days_before=5, seed=11)
    (path,) = write_sample(directory, options)
    return path, list(ox.parse(path.read_bytes(), format=ox.RdfFormat.N_TRIPLES))


def materialised(path: Path, mode: str) -> DataStore:
    store = DataStore("s", mode=mode)  # type: ignore[arg-type]
    for rules in sorted(SAMPLES.glob("*.dlog")):
        store.import_rules(rules, rules.name, {})
    store.import_data(path, path.name)
    store.materialise()
    return store


@pytest.mark.parametrize("mode", ["semi-naive", "naive"])
def test_sample_rules_find_the_reference_chains(generated: tuple[Path, list[ox.Triple]], mode: str) -> None:
    path, triples = generated
    chains = reference_chains(triples)
    expected = classify(chains, triples)
    assert len(expected["FullChain"]) >= 3 and len(expected["HighValueChain"]) >= 3  # the data is not trivial
    assert max(len(c.members) for c in chains) == MAX_LENGTH

    store = materialised(path, mode)
    facts = set(store.facts)
    for cls, iris in expected.items():
        got = {s[1:-1] for s, p, o in facts if p == RDF_TYPE and o == f"<{CLS}{cls}>"}
        assert got == iris, cls
    members = defaultdict(set)
    for s, p, o in facts:
        if p == f"<{PROP}chainMember>":
            members[s[1:-1]].add(o[1:-1])
    assert dict(members) == {c.iri: set(c.members) for c in chains}
    lengths = {s[1:-1]: int(o.split('"')[1]) for s, p, o in facts if p == f"<{PROP}chainLength>"}
    assert lengths == {c.iri: len(c.members) for c in chains}


def test_count_queries_match_the_reference(generated: tuple[Path, list[ox.Triple]]) -> None:
    from rdfox_local.reasoner.answers import answer_query

    path, triples = generated
    expected = classify(reference_chains(triples), triples)
    store = materialised(path, "semi-naive")
    for name, cls in (
        ("fullchains", "FullChain"),
        ("chains", "PartialChain"),
        ("highvaluechains", "HighValueChain"),
    ):
        answer = answer_query(store, (SAMPLES / f"{name}.count.rq").read_text(), "text/csv", "all", {})
        assert answer.text.splitlines()[1] == str(len(expected[cls])), name
