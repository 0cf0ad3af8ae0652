"""A data store as the shell sees it: explicit facts, rules, materialisation, and SPARQL over the result.

Explicit (EDB) facts are kept apart so that ``query.fact-domain explicit`` and ``info``'s EDB count see
only them; SPARQL runs in pyoxigraph over a store rebuilt after each change, with explicit and derived facts
in two graphs so that either domain is one ``default_graph`` choice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from .datafiles import read_triples
from .errors import ReasonerError
from .evaluation import MaterialisationStats, Mode, materialise
from .factstore import FactStore, Triple
from .parser import parse_rule_file
from .program import Program, Rule

EXPLICIT_GRAPH = ox.NamedNode("urn:x-rdfox-local:explicit")
DERIVED_GRAPH = ox.NamedNode("urn:x-rdfox-local:derived")


@dataclass
class ImportResult:
    kind: str  # "rules" or "facts"
    processed: int
    updated: int
    seconds: float


class DataStore:
    def __init__(self, name: str, store_type: str = "parallel-nw", mode: Mode = "semi-naive") -> None:
        self.name = name
        self.store_type = store_type
        self.mode: Mode = mode
        self.explicit: set[Triple] = set()
        self.facts = FactStore()
        self.program = Program()
        self.materialised = True
        self.last_stats: MaterialisationStats | None = None
        self._sparql: ox.Store | None = None
        self.skipped_generalised = 0

    # -- loading --------------------------------------------------------------------------------------------
    def import_rules(
        self, path: Path, display: str, prefixes: dict[str, str], base: str | None = None
    ) -> ImportResult:
        started = time.perf_counter()
        program = parse_rule_file(path, prefixes, display_path=display, base=base)
        rules = [r for r in program.rules if not r.is_fact()]
        facts = [h.terms for r in program.rules if r.is_fact() for h in r.head]
        known = {_rule_key(r) for r in self.program.rules}
        updated = sum(1 for r in rules if _rule_key(r) not in known)
        self.program.rules.extend(r for r in rules if _rule_key(r) not in known)
        added = sum(1 for triple in facts if self._add_explicit(triple))  # type: ignore[arg-type]
        self.materialised = False
        self._sparql = None
        return ImportResult("rules", len(rules) + len(facts), updated + added, time.perf_counter() - started)

    def import_data(self, path: Path, display: str) -> ImportResult:
        started = time.perf_counter()
        processed = updated = 0
        for triple in read_triples(path, display):
            processed += 1
            if self._add_explicit(triple):
                updated += 1
        self.materialised = False
        self._sparql = None
        return ImportResult("facts", processed, updated, time.perf_counter() - started)

    def _add_explicit(self, triple: Triple) -> bool:
        if triple in self.explicit:
            return False
        self.explicit.add(triple)
        self.facts.add(*triple)
        return True

    # -- reasoning ------------------------------------------------------------------------------------------
    def materialise(self) -> MaterialisationStats:
        """Derive everything the rules give from the explicit facts.

        A second materialisation starts again from the explicit facts: with NOT or AGGREGATE, a fact derived
        before new data arrived may no longer hold (RDFox maintains this incrementally; we recompute).
        """
        if len(self.facts) != len(self.explicit):
            self.facts = FactStore(self.explicit)
        stats = materialise(self.program.rules, self.facts, self.mode)
        self.materialised = True
        self.last_stats = stats
        self._sparql = None
        return stats

    @property
    def edb_count(self) -> int:
        return len(self.explicit)

    @property
    def idb_count(self) -> int:
        return len(self.facts)

    # -- SPARQL ---------------------------------------------------------------------------------------------
    def sparql_store(self) -> ox.Store:
        if self._sparql is None:
            store = ox.Store()
            explicit, derived = [], []
            skipped = 0
            for s, p, o in self.facts:
                # pyoxigraph holds only RDF: a rule may derive a literal subject (generalised RDF).
                if s[0] == '"' or p[0] != "<":
                    skipped += 1
                    continue
                (explicit if (s, p, o) in self.explicit else derived).append(f"{s} {p} {o} .\n")
            for lines, graph in ((explicit, EXPLICIT_GRAPH), (derived, DERIVED_GRAPH)):
                if lines:
                    try:
                        store.load(
                            "".join(lines).encode("utf-8"), format=ox.RdfFormat.N_TRIPLES, to_graph=graph
                        )
                    except SyntaxError as exc:
                        raise ReasonerError(f"a fact is not valid RDF: {exc}") from exc
            self.skipped_generalised = skipped
            self._sparql = store
        return self._sparql

    def graphs(self, domain: str) -> list[ox.NamedNode]:
        if domain == "explicit":
            return [EXPLICIT_GRAPH]
        if domain in ("all", "derived"):
            return [EXPLICIT_GRAPH, DERIVED_GRAPH]
        raise ReasonerError(f"unknown query.fact-domain {domain!r} (explicit, derived or all)")


def _rule_key(rule: Rule) -> tuple:
    return (rule.head, rule.body)
