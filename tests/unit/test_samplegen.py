"""The sample data generator: deterministic for a seed, and shaped like the reference transactions sample."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdfox_local.samplegen import SampleOptions, generate_lines, write_sample

ENTITIES = "http://oxfordsemantic.tech/transactions/entities#"
PROPS = "http://oxfordsemantic.tech/transactions/properties#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_KIND_RE = re.compile(r"#([A-Za-z]+)_")


def parse(text: str) -> list[ox.Triple]:
    return list(ox.parse(text.encode(), format=ox.RdfFormat.N_TRIPLES))


def kind(term: ox.NamedNode | ox.Literal | ox.BlankNode) -> str:
    """What a term is, for shape comparison: an entity kind (``party``), an IRI, or a literal datatype."""
    if isinstance(term, ox.Literal):
        return f"^^{term.datatype.value}"
    match = _KIND_RE.search(term.value)
    return match.group(1) if match and term.value.startswith(ENTITIES) else term.value


def shape(triples: list[ox.Triple]) -> set[tuple[str, str, str]]:
    return {(kind(t.subject), t.predicate.value, kind(t.object)) for t in triples}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    options = SampleOptions(transactions=120, parties=20, seed=7)
    first = write_sample(tmp_path / "a", options)
    second = write_sample(tmp_path / "b", options)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = write_sample(tmp_path / "c", SampleOptions(transactions=120, parties=20, seed=8))
    assert other[0].read_bytes() != first[0].read_bytes()


def test_shaped_like_the_reference_sample(reference_dir: Path) -> None:
    reference = parse((reference_dir / "transactions-sample.nt").read_text(encoding="utf-8"))
    generated = parse("\n".join(generate_lines(SampleOptions(transactions=400, seed=3))[0]) + "\n")
    # Every (subject kind, predicate, object kind) the generator writes occurs in the reference, except the
    # suspicious flag the sample rules need (the reference marks risk with tags only).
    extra = shape(generated) - shape(reference)
    assert extra == {("party", PROPS + "isSuspicious", "^^http://www.w3.org/2001/XMLSchema#boolean")}
    # ... and the transaction and party shapes of the reference are all there.
    for subject_kind in ("transaction", "party"):
        wanted = {s for s in shape(reference) if s[0] == subject_kind and s[1] != PROPS + "hasParent"}
        assert wanted <= shape(generated), subject_kind


def test_counts_and_transaction_invariants() -> None:
    options = SampleOptions(
        transactions=300,
        parties=50,
        suspicious_share=0.1,
        high_risk_share=0.2,
        seed=1,
        end_date=dt.date(2021, 6, 21),
        max_days_before=5,
    )
    triples = parse("\n".join(generate_lines(options)[0]) + "\n")
    types = Counter(t.object.value.rsplit("#", 1)[1] for t in triples if t.predicate.value == RDF_TYPE)
    assert types["Transaction"] == 300 and types["Party"] == 50 and types["Address"] == 50
    by_subject: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for t in triples:
        by_subject[t.subject.value][t.predicate.value.rsplit("#", 1)[1]].append(t.object)
    suspicious = [
        s
        for s, props in by_subject.items()
        if props.get("isSuspicious")
        == [ox.Literal("true", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#boolean"))]
    ]
    assert len(suspicious) == 5  # 10 % of 50
    assert sum(1 for props in by_subject.values() if "hasRiskTag" in props) == 10  # 20 % of 50
    earliest, latest = dt.datetime(2021, 6, 16), dt.datetime(2021, 6, 21)
    transactions = {s: props for s, props in by_subject.items() if s.startswith(ENTITIES + "transaction_")}
    assert len(transactions) == 300
    for props in transactions.values():
        assert [len(props[p]) for p in ("hasOriginator", "hasBeneficiary", "hasAmount", "hasDate")] == [1] * 4
        assert props["hasOriginator"] != props["hasBeneficiary"]
        assert "party" in props["hasOriginator"][0].value
        when = dt.datetime.fromisoformat(props["hasDate"][0].value)
        assert earliest <= when < latest
        assert int(props["hasAmount"][0].value) >= 1_000_000


def test_files_split_the_same_triples(tmp_path: Path) -> None:
    one = generate_lines(SampleOptions(transactions=100, parties=12, seed=5))[0]
    three = write_sample(tmp_path, SampleOptions(transactions=100, parties=12, seed=5, files=3))
    assert [p.name for p in three] == ["part-0001.nt", "part-0002.nt", "part-0003.nt"]
    lines = [line for p in three for line in p.read_text(encoding="utf-8").splitlines()]
    assert sorted(lines) == sorted(one)
    assert all(p.stat().st_size > 0 for p in three)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SampleOptions(transactions=-1), "transactions must be >= 0"),
        (SampleOptions(parties=1), "parties must be >= 2"),
        (SampleOptions(suspicious_share=1.5), "suspicious_share must be between 0 and 1"),
        (SampleOptions(files=0), "files must be >= 1"),
        (SampleOptions(max_days_before=0), "max_days_before must be >= 1"),
    ],
)
def test_bad_options_are_refused(options: SampleOptions, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_lines(options)
