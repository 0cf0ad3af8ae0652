"""Semi-naive evaluation derives exactly what naive evaluation does, on random programs and data.

Programs are random rules over a few predicates and constants: recursion, repeated variables, constants in
atoms, FILTER(?a != ?b) and NOT. When NOT reads only input predicates, a brute-force evaluator written here
(nested loops over all facts to a fixpoint) is a third, independent opinion.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rdfox_local.reasoner.api import reason
from rdfox_local.reasoner.errors import StratificationError

EX = "http://ex/"
EDB = ["e0", "e1"]
IDB = ["d0", "d1", "d2"]
CONSTANTS = [f"c{i}" for i in range(5)]
VARS = ["x", "y", "z", "w"]


def iri(local: str) -> str:
    return f"<{EX}{local}>"


# A rule is (head, body, filters, negations): atoms are (s, p, o) with "?v" variables or constant names.
term = st.one_of(st.sampled_from([f"?{v}" for v in VARS]), st.sampled_from(CONSTANTS))


@st.composite
def rules(draw: st.DrawFn, negate_idb: bool) -> tuple:
    body = draw(st.lists(st.tuples(term, st.sampled_from(EDB + IDB), term), min_size=1, max_size=3))
    bound = sorted({t for s, _, o in body for t in (s, o) if t.startswith("?")})
    head_term = st.sampled_from(bound + CONSTANTS[:2]) if bound else st.sampled_from(CONSTANTS)
    head = (draw(head_term), draw(st.sampled_from(IDB)), draw(head_term))
    filters = []
    if len(bound) >= 2 and draw(st.booleans()):
        filters.append(tuple(draw(st.permutations(bound))[:2]))
    negations = []
    if bound and draw(st.booleans()):
        negated = st.sampled_from(EDB + IDB if negate_idb else EDB)
        negations.append(
            (draw(st.sampled_from(bound)), draw(negated), draw(st.sampled_from(bound + CONSTANTS)))
        )
    return head, body, filters, negations


def program_text(program: list[tuple]) -> str:
    def render(t: str) -> str:
        return t if t.startswith("?") else f"ex:{t}"

    lines = [f"PREFIX ex: <{EX}>"]
    for head, body, filters, negations in program:
        parts = [f"[{render(s)}, ex:{p}, {render(o)}]" for s, p, o in body]
        parts += [f"FILTER({a} != {b})" for a, b in filters]
        parts += [f"NOT [{render(s)}, ex:{p}, {render(o)}]" for s, p, o in negations]
        s, p, o = head
        lines.append(f"[{render(s)}, ex:{p}, {render(o)}] :- {', '.join(parts)} .")
    return "\n".join(lines) + "\n"


facts = st.sets(
    st.tuples(st.sampled_from(CONSTANTS), st.sampled_from(EDB + IDB[:1]), st.sampled_from(CONSTANTS)),
    max_size=14,
)


def as_triples(data: set[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [(iri(s), iri(p), iri(o)) for s, p, o in sorted(data)]


def brute_force(
    program: list[tuple], data: set[tuple[str, str, str]], negation_reads: set | None = None
) -> set[tuple[str, str, str]]:
    """Every rule over every combination of facts, until nothing changes; NOT reads ``negation_reads``
    (default: the input), which must already hold every fact of the negated predicates."""
    negation_reads = data if negation_reads is None else negation_reads
    known = set(data)
    while True:
        new = set()
        for head, body, filters, negations in program:
            for combo in itertools.product(sorted(known), repeat=len(body)):
                binding: dict[str, str] = {}
                if not all(_match(atom, fact, binding) for atom, fact in zip(body, combo, strict=True)):
                    continue
                if any(binding[a] == binding[b] for a, b in filters):
                    continue
                if any(tuple(binding.get(t, t) for t in atom) in negation_reads for atom in negations):
                    continue
                new.add(tuple(binding.get(t, t) for t in head))
        if new <= known:
            return known - data
        known |= new


def predicate_strata(program: list[tuple]) -> list[list[tuple]] | None:
    """The rules grouped by predicate stratum (a negated predicate is complete first), or None if a
    predicate depends negatively on itself through the rules."""
    level = dict.fromkeys(EDB + IDB, 0)
    for _ in range(len(IDB) + 2):
        changed = False
        for head, body, _filters, negations in program:
            need = max([level[p] for _, p, _ in body] + [level[p] + 1 for _, p, _ in negations])
            if need > level[head[1]]:
                level[head[1]], changed = need, True
        if not changed:
            top = max(level.values())
            return [[r for r in program if level[r[0][1]] == n] for n in range(top + 1)]
    return None


def brute_force_stratified(
    program: list[tuple], data: set[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """Brute force, stratum by stratum: NOT reads the facts of lower strata, which are then complete."""
    strata = predicate_strata(program)
    assert strata is not None
    known = set(data)
    for rules_of_stratum in strata:
        known |= brute_force(rules_of_stratum, known, negation_reads=known)
    return known - data


def _match(atom: tuple[str, str, str], fact: tuple[str, str, str], binding: dict[str, str]) -> bool:
    for t, value in zip(atom, fact, strict=True):
        if t.startswith("?"):
            if binding.setdefault(t, value) != value:
                return False
        elif t != value:
            return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(rules(negate_idb=True), min_size=1, max_size=5), data=facts)
def test_semi_naive_equals_naive(program: list[tuple], data: set) -> None:
    text = program_text(program)
    try:
        semi, semi_stats = reason(text, as_triples(data), "semi-naive")
    except StratificationError:
        try:
            reason(text, as_triples(data), "naive")
        except StratificationError:
            return
        raise AssertionError("only semi-naive found the program unstratifiable") from None
    naive, naive_stats = reason(text, as_triples(data), "naive")
    assert set(semi) == set(naive)
    assert semi_stats.derived == naive_stats.derived
    # Semi-naive never repeats a derivation that naive makes once per round.
    assert semi_stats.derivations <= naive_stats.derivations


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(rules(negate_idb=False), min_size=1, max_size=4), data=facts)
def test_both_modes_equal_a_brute_force_fixpoint(program: list[tuple], data: set) -> None:
    text = program_text(program)
    expected = {(iri(s), iri(p), iri(o)) for s, p, o in brute_force(program, data)}
    for mode in ("semi-naive", "naive"):
        store, _ = reason(text, as_triples(data), mode)  # type: ignore[arg-type]
        assert set(store) - set(as_triples(data)) == expected, mode


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(rules(negate_idb=True), min_size=2, max_size=4), data=facts)
def test_negation_of_derived_predicates_equals_a_stratified_brute_force(
    program: list[tuple], data: set
) -> None:
    assume(predicate_strata(program) is not None)
    expected = {(iri(s), iri(p), iri(o)) for s, p, o in brute_force_stratified(program, data)}
    store, _ = reason(program_text(program), as_triples(data))
    assert set(store) - set(as_triples(data)) == expected


def test_semi_naive_makes_fewer_derivations_on_a_long_chain() -> None:
    # tc over a 30-node path: naive re-derives every known pair each round, semi-naive each pair once.
    text = (
        f"PREFIX ex: <{EX}>\nex:tc[?x, ?y] :- ex:e[?x, ?y] .\n"
        "ex:tc[?x, ?z] :- ex:tc[?x, ?y], ex:e[?y, ?z] .\n"
    )
    data = [(iri(f"n{i}"), iri("e"), iri(f"n{i + 1}")) for i in range(30)]
    semi, semi_stats = reason(text, data, "semi-naive")
    naive, naive_stats = reason(text, data, "naive")
    assert set(semi) == set(naive)
    assert semi_stats.derived == naive_stats.derived == 31 * 30 // 2
    assert semi_stats.derivations == semi_stats.derived
    assert naive_stats.derivations > 5 * semi_stats.derivations


def test_a_new_fact_at_a_later_recursive_atom_joins_with_an_old_one() -> None:
    # out[c3] needs p1[c3] (round 1, old by then) with p2[c3] (new in round 4): the variant that reads the
    # delta at the second recursive atom must exist, or out[c3] is never derived.
    text = f"""PREFIX ex: <{EX}>
ex:p1[?x] :- ex:start[?x] .
ex:p2[?y] :- ex:p1[?x], ex:e[?x, ?y] .
ex:p2[?y] :- ex:p2[?x], ex:e[?x, ?y] .
ex:out[?x] :- ex:p1[?x], ex:p2[?x] .
ex:p1[?x] :- ex:out[?x], ex:start[?x] .
"""
    rdf_type = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    data = [(iri("c0"), rdf_type, iri("start")), (iri("c3"), rdf_type, iri("start"))]
    data += [(iri(f"c{i}"), iri("e"), iri(f"c{i + 1}")) for i in range(3)]
    for mode in ("semi-naive", "naive"):
        store, _ = reason(text, data, mode)  # type: ignore[arg-type]
        assert {s for s, p, o in store if o == iri("out")} == {iri("c3")}, mode
