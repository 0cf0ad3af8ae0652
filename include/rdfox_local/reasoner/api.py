"""Reasoning in one call, for tests, benchmarks and notebooks: rule text + N-Triples text -> fact store."""

from __future__ import annotations

import sys

import pyoxigraph as ox

from .errors import ReasonerError
from .evaluation import MaterialisationStats, Mode, materialise
from .factstore import FactStore, Triple
from .parser import parse_rules


def parse_ntriples(text: str) -> list[Triple]:
    """The triples of N-Triples (or Turtle: bare numbers are handy in tests) text as interned term strings."""
    intern = sys.intern
    try:
        return [
            (intern(str(t.subject)), intern(str(t.predicate)), intern(str(t.object)))
            for t in ox.parse(text.encode("utf-8"), format=ox.RdfFormat.TURTLE)
        ]
    except SyntaxError as exc:
        raise ReasonerError(f"data: {exc}") from exc


def reason(
    rules: str,
    data: str | list[Triple] = "",
    mode: Mode = "semi-naive",
    path: str = "<rules>",
    prefixes: dict[str, str] | None = None,
    base: str | None = None,
) -> tuple[FactStore, MaterialisationStats]:
    """Materialise ``rules`` over ``data``; returns every fact (explicit and derived) and the statistics.

    Facts written in the rule text (rules without a body) are explicit, as RDFox imports them.
    """
    program = parse_rules(rules, path, prefixes, base)
    triples = parse_ntriples(data) if isinstance(data, str) else list(data)
    store = FactStore(triples)
    for rule in program.rules:
        if rule.is_fact():
            for atom in rule.head:
                store.add(*atom.terms)  # type: ignore[arg-type]
    stats = materialise(program.rules, store, mode)
    return store, stats


def derived(
    rules: str, data: str | list[Triple] = "", mode: Mode = "semi-naive", **kwargs: object
) -> set[Triple]:
    """Only the facts the rules add (not the input data)."""
    triples = parse_ntriples(data) if isinstance(data, str) else list(data)
    store, _ = reason(rules, triples, mode, **kwargs)  # type: ignore[arg-type]
    return set(store) - set(triples)
