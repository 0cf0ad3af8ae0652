"""Each rule construct of the local reasoner against facts worked out by hand on small graphs.

Expected triples are written out literally (or computed with hashlib / Decimal, not with the engine's own
helpers), and every test runs both evaluation modes: they must agree with the hand-made answer.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pyoxigraph as ox
import pytest
from rdfox_local.reasoner.api import derived, parse_ntriples, reason

EX = "http://ex/"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
PREFIXES = f"PREFIX ex: <{EX}>\nPREFIX xsd: <{XSD}>\n"

MODES = pytest.mark.parametrize("mode", ["semi-naive", "naive"])


def iri(local: str) -> str:
    return f"<{EX}{local}>"


def triples(*rows: tuple[str, str, str]) -> set[tuple[str, str, str]]:
    return {
        (
            iri(s) if not s.startswith(("<", '"')) else s,
            iri(p) if not p.startswith("<") else p,
            iri(o) if not o.startswith(("<", '"')) else o,
        )
        for s, p, o in rows
    }


def nt(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def value_of(term: str) -> tuple[str, object]:
    """(datatype IRI, Python value) of a literal term, decoded by pyoxigraph (not by the engine)."""
    literal = next(iter(ox.parse(f"<urn:s> <urn:p> {term} .".encode(), format=ox.RdfFormat.N_TRIPLES))).object
    datatype = literal.datatype.value
    if datatype in (XSD + "integer", XSD + "decimal"):
        return datatype, Decimal(literal.value)
    return datatype, literal.value


@MODES
def test_prefixes_base_and_relative_iris(mode: str) -> None:
    rules = (
        "@prefix ex: <http://ex/> .\n"
        "BASE <http://base/dir/>\n"
        "ex:q[?x, <rel>] :- ex:p[?x, ?y] .\n"
        "other:q[?x, ?y] :- ex:p[?x, ?y] .\n"
    )
    # 'other:' comes from outside the file, as the shell's `prefix` command declares it.
    got = derived(
        rules, nt("<http://ex/a> <http://ex/p> <http://ex/b> ."), mode, prefixes={"other": "urn:o:"}
    )
    assert got == {
        ("<http://ex/a>", "<http://ex/q>", "<http://base/dir/rel>"),
        ("<http://ex/a>", "<urn:o:q>", "<http://ex/b>"),
    }


@MODES
def test_class_atoms_and_the_keyword_a(mode: str) -> None:
    rules = PREFIXES + "[?x, a, ex:Person] :- ex:Student[?x] .\nex:Person[?x] :- [?x, a, ex:Employee] .\n"
    data = nt(
        f"{iri('ann')} {RDF_TYPE} {iri('Student')} .",
        f"{iri('bob')} {RDF_TYPE} {iri('Employee')} .",
        f"{iri('cy')} {RDF_TYPE} {iri('Robot')} .",
    )
    assert derived(rules, data, mode) == triples(("ann", RDF_TYPE, "Person"), ("bob", RDF_TYPE, "Person"))


@MODES
def test_several_head_atoms_and_boolean_constants(mode: str) -> None:
    rules = PREFIXES + "ex:r[?y, ?x], ex:seen[?x, true] :- ex:p[?x, ?y] .\n"
    data = nt(f"{iri('a')} {iri('p')} {iri('b')} .", f"{iri('c')} {iri('p')} {iri('d')} .")
    true = f'"true"^^<{XSD}boolean>'
    assert derived(rules, data, mode) == triples(
        ("b", "r", "a"), ("d", "r", "c"), ("a", "seen", true), ("c", "seen", true)
    )


@MODES
def test_recursion_reaches_the_transitive_closure(mode: str) -> None:
    rules = PREFIXES + "ex:tc[?x, ?y] :- ex:e[?x, ?y] .\nex:tc[?x, ?z] :- ex:tc[?x, ?y], ex:e[?y, ?z] .\n"
    data = nt(*(f"{iri(str(i))} {iri('e')} {iri(str(i + 1))} ." for i in range(1, 4)))
    expected = {(iri(str(i)), iri("tc"), iri(str(j))) for i in range(1, 5) for j in range(i + 1, 5)}
    assert derived(rules, data, mode) == expected  # 1->2->3->4: six pairs


@MODES
def test_filter_compares_numbers_across_datatypes_and_skips_type_errors(mode: str) -> None:
    rules = PREFIXES + "ex:Adult[?x] :- ex:age[?x, ?a], FILTER(?a >= 18) .\n"
    data = nt(
        f"{iri('a')} {iri('age')} 17 .",
        f'{iri("b")} {iri("age")} "18"^^<{XSD}integer> .',
        f'{iri("c")} {iri("age")} "20.5"^^<{XSD}decimal> .',
        f'{iri("d")} {iri("age")} "1.9E1"^^<{XSD}double> .',
        f'{iri("e")} {iri("age")} "99" .',  # a string: comparing it with a number is an error, not a match
    )
    assert derived(rules, data, mode) == triples(*((x, RDF_TYPE, "Adult") for x in "bcd"))


@MODES
def test_filter_on_datetimes_with_a_duration_window(mode: str) -> None:
    rules = PREFIXES + (
        "ex:soonAfter[?x, ?y] :- ex:date[?x, ?d], ex:date[?y, ?e],\n"
        '    FILTER(?e > ?d && ?e <= ?d + "P3D"^^xsd:dayTimeDuration) .\n'
    )
    dates = {
        "t1": "2021-06-01T00:00:00",
        "t2": "2021-06-03T12:00:00",
        "t3": "2021-06-05T00:00:00",
        "t4": "2021-06-08T00:00:00",
    }
    data = nt(*(f'{iri(t)} {iri("date")} "{d}"^^<{XSD}dateTime> .' for t, d in dates.items()))
    # t1->t2 is 2.5 days, t2->t3 1.5, t3->t4 exactly 3 (inclusive); t1->t3 is 4 days, t2->t4 4.5.
    assert derived(rules, data, mode) == triples(
        ("t1", "soonAfter", "t2"), ("t2", "soonAfter", "t3"), ("t3", "soonAfter", "t4")
    )


@MODES
def test_filter_on_dates_and_equality(mode: str) -> None:
    rules = PREFIXES + (
        'ex:early[?x] :- ex:day[?x, ?d], FILTER(?d < "2021-06-02"^^xsd:date) .\n'
        "ex:sameDay[?x, ?y] :- ex:day[?x, ?d], ex:day[?y, ?d], FILTER(?x != ?y) .\n"
    )
    data = nt(
        f'{iri("a")} {iri("day")} "2021-06-01"^^<{XSD}date> .',
        f'{iri("b")} {iri("day")} "2021-06-02"^^<{XSD}date> .',
        f'{iri("c")} {iri("day")} "2021-06-02"^^<{XSD}date> .',
    )
    assert derived(rules, data, mode) == triples(
        ("a", RDF_TYPE, "early"), ("b", "sameDay", "c"), ("c", "sameDay", "b")
    )


@MODES
def test_bind_builds_hashed_iris_with_concat_md5_and_str(mode: str) -> None:
    rules = PREFIXES + (
        "ex:id[?x, ?i] :- ex:p[?x, ?y],\n"
        '    BIND(IRI(CONCAT("http://ex/id_", MD5(STR(?y)), "-", STR(?n))) AS ?i), ex:n[?x, ?n] .\n'
    )
    data = nt(f"{iri('a')} {iri('p')} {iri('b')} .", f'{iri("a")} {iri("n")} "seven" .')
    digest = hashlib.md5(f"{EX}b".encode()).hexdigest()
    assert derived(rules, data, mode) == {(iri("a"), iri("id"), f"<{EX}id_{digest}-seven>")}


@MODES
def test_bind_arithmetic_keeps_numeric_types(mode: str) -> None:
    rules = PREFIXES + (
        "ex:sum[?x, ?s], ex:twice[?x, ?t], ex:half[?x, ?h], ex:mixed[?x, ?m], ex:less[?x, ?l] :-\n"
        "    ex:a[?x, ?i], ex:b[?x, ?j], ex:c[?x, ?d],\n"
        "    BIND(?i + ?j AS ?s), BIND(?i * 2 - 1 AS ?t), BIND(?i / ?j AS ?h), BIND(?i + ?d AS ?m),\n"
        "    BIND(?i < ?j AS ?l) .\n"
    )
    data = nt(
        f"{iri('x')} {iri('a')} 7 .",
        f"{iri('x')} {iri('b')} 2 .",
        f'{iri("x")} {iri("c")} "0.25"^^<{XSD}decimal> .',
    )
    got = {p: value_of(o) for _, p, o in derived(rules, data, mode)}
    assert got == {
        iri("sum"): (XSD + "integer", Decimal(9)),
        iri("twice"): (XSD + "integer", Decimal(13)),
        iri("half"): (XSD + "decimal", Decimal("3.5")),  # integer division gives a decimal in SPARQL
        iri("mixed"): (XSD + "decimal", Decimal("7.25")),
        iri("less"): (XSD + "boolean", "false"),
    }


@MODES
def test_bind_errors_drop_the_binding(mode: str) -> None:
    rules = PREFIXES + "ex:inv[?x, ?r] :- ex:n[?x, ?n], BIND(1 / ?n AS ?r) .\n"
    data = nt(f"{iri('a')} {iri('n')} 4 .", f"{iri('z')} {iri('n')} 0 .", f'{iri("s")} {iri("n")} "x" .')
    got = derived(rules, data, mode)
    assert {s for s, _, _ in got} == {iri("a")}  # division by zero and a string give no fact
    assert value_of(next(iter(got))[2]) == (XSD + "decimal", Decimal("0.25"))


@MODES
def test_not_and_not_exists(mode: str) -> None:
    rules = PREFIXES + (
        "ex:Unpaid[?x] :- ex:Invoice[?x], NOT ex:Paid[?x] .\n"
        "ex:Orphan[?x] :- ex:Invoice[?x], NOT EXISTS ?c IN ex:customer[?x, ?c] .\n"
        "ex:Lonely[?x] :- ex:Invoice[?x], NOT (ex:customer[?x, ?c], ex:Vip[?c]) .\n"
    )
    data = nt(
        *(f"{iri(i)} {RDF_TYPE} {iri('Invoice')} ." for i in ("i1", "i2", "i3")),
        f"{iri('i1')} {RDF_TYPE} {iri('Paid')} .",
        f"{iri('i1')} {iri('customer')} {iri('c1')} .",
        f"{iri('i2')} {iri('customer')} {iri('c2')} .",
        f"{iri('c2')} {RDF_TYPE} {iri('Vip')} .",
    )
    assert derived(rules, data, mode) == triples(
        ("i2", RDF_TYPE, "Unpaid"),
        ("i3", RDF_TYPE, "Unpaid"),
        ("i3", RDF_TYPE, "Orphan"),
        ("i1", RDF_TYPE, "Lonely"),
        ("i3", RDF_TYPE, "Lonely"),
    )


@MODES
def test_negation_of_a_recursive_predicate_waits_for_its_fixpoint(mode: str) -> None:
    rules = PREFIXES + (
        "ex:reach[ex:n1] .\n"
        "ex:reach[?y] :- ex:reach[?x], ex:e[?x, ?y] .\n"
        "ex:Unreachable[?x] :- ex:Node[?x], NOT ex:reach[?x] .\n"
    )
    data = nt(
        *(f"{iri(n)} {RDF_TYPE} {iri('Node')} ." for n in ("n1", "n2", "n3", "n4")),
        f"{iri('n1')} {iri('e')} {iri('n2')} .",
        f"{iri('n2')} {iri('e')} {iri('n3')} .",
        f"{iri('n4')} {iri('e')} {iri('n1')} .",
    )
    got = derived(rules, data, mode)
    assert {s for s, p, o in got if o == iri("Unreachable")} == {iri("n4")}
    assert {s for s, p, o in got if o == iri("reach")} == {iri("n1"), iri("n2"), iri("n3")}


@MODES
def test_aggregate_count_sum_min_max_avg_per_group(mode: str) -> None:
    rules = PREFIXES + (
        "ex:stats[?o, ?n], ex:sum[?o, ?s], ex:min[?o, ?lo], ex:max[?o, ?hi], ex:avg[?o, ?av] :-\n"
        "    ex:Order[?o],\n"
        "    AGGREGATE(ex:item[?o, ?i], ex:amount[?i, ?a] ON ?o\n"
        "              BIND COUNT(?i) AS ?n BIND SUM(?a) AS ?s BIND MIN(?a) AS ?lo\n"
        "              BIND MAX(?a) AS ?hi BIND AVG(?a) AS ?av) .\n"
    )
    amounts = {"o1": {"i1": 10, "i2": 20, "i3": 30}, "o2": {"i4": 5}, "o3": {}}
    rows = [f"{iri(o)} {RDF_TYPE} {iri('Order')} ." for o in amounts]
    for order, items in amounts.items():
        for item, amount in items.items():
            rows += [f"{iri(order)} {iri('item')} {iri(item)} .", f"{iri(item)} {iri('amount')} {amount} ."]
    got: dict[tuple[str, str], object] = {
        (s, p): value_of(o)[1] for s, p, o in derived(rules, nt(*rows), mode)
    }
    assert got == {
        (iri("o1"), iri("stats")): 3,
        (iri("o1"), iri("sum")): 60,
        (iri("o1"), iri("min")): 10,
        (iri("o1"), iri("max")): 30,
        (iri("o1"), iri("avg")): 20,
        (iri("o2"), iri("stats")): 1,
        (iri("o2"), iri("sum")): 5,
        (iri("o2"), iri("min")): 5,
        (iri("o2"), iri("max")): 5,
        (iri("o2"), iri("avg")): 5,
    }  # o3 has no items: AGGREGATE ... ON ?o gives no group for it


@MODES
def test_aggregate_over_derived_facts_and_min_of_decimals(mode: str) -> None:
    rules = PREFIXES + (
        "ex:path[?x, ?y] :- ex:e[?x, ?y] .\n"
        "ex:path[?x, ?z] :- ex:path[?x, ?y], ex:e[?y, ?z] .\n"
        "ex:reachCount[?x, ?n] :- AGGREGATE(ex:path[?x, ?y] ON ?x BIND COUNT(?y) AS ?n) .\n"
        "ex:cheapest[?x, ?m] :- AGGREGATE(ex:price[?x, ?p] ON ?x BIND MIN(?p) AS ?m) .\n"
    )
    data = nt(
        f"{iri('a')} {iri('e')} {iri('b')} .",
        f"{iri('b')} {iri('e')} {iri('c')} .",
        f"{iri('c')} {iri('e')} {iri('a')} .",
        f'{iri("a")} {iri("price")} "2.50"^^<{XSD}decimal> .',
        f'{iri("a")} {iri("price")} "10"^^<{XSD}decimal> .',
    )
    got = derived(rules, data, mode)
    counts = {s: value_of(o)[1] for s, p, o in got if p == iri("reachCount")}
    assert counts == {iri("a"): 3, iri("b"): 3, iri("c"): 3}  # a cycle: everyone reaches all three
    cheapest = {s: value_of(o)[1] for s, p, o in got if p == iri("cheapest")}
    assert cheapest == {iri("a"): Decimal("2.5")}


@MODES
def test_comments_are_ignored_wherever_they_are(mode: str) -> None:
    rules = (
        "# a comment line\n"
        "PREFIX ex: <http://ex/>   # after a directive\n"
        "% RDFox's other comment mark\n"
        "ex:q[?x, ?y] :-   # inside a rule\n"
        "    ex:p[?x, ?y] . # after it\n"
    )
    data = nt(f"{iri('a')} {iri('p')} {iri('b')} .")
    assert derived(rules, data, mode) == triples(("a", "q", "b"))


def test_facts_in_rule_files_are_explicit_and_join_with_data() -> None:
    store, stats = reason(PREFIXES + "ex:p[ex:a, ex:b] .\nex:q[?x, ?y] :- ex:p[?x, ?y] .\n")
    assert set(store) == triples(("a", "p", "b"), ("a", "q", "b"))
    assert stats.derived == 1 and stats.rules == 1


def test_variable_predicates_and_repeated_variables() -> None:
    rules = PREFIXES + "ex:self[?x, ?p] :- [?x, ?p, ?x] .\nex:used[?p, true] :- [?s, ?p, ?o] .\n"
    data = nt(f"{iri('a')} {iri('likes')} {iri('a')} .", f"{iri('a')} {iri('likes')} {iri('b')} .")
    true = f'"true"^^<{XSD}boolean>'
    # ex:used reads every fact, derived ones included: so ex:self and ex:used are used too.
    assert derived(rules, data) == triples(
        ("a", "self", iri("likes")), ("likes", "used", true), ("self", "used", true), ("used", "used", true)
    )


def test_parse_ntriples_matches_pyoxigraph_terms() -> None:
    line = f'{iri("a")} {iri("p")} "x\\"y"@EN .'
    assert parse_ntriples(nt(line)) == [(iri("a"), iri("p"), '"x\\"y"@en')]
