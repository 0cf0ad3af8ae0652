"""Materialisation: evaluate the strata in order, each to its fixpoint, semi-naively (default) or naively.

Semi-naive: after a first full round, a rule is re-run only in variants where one recursive body atom
reads the previous round's new facts (the delta), the recursive atoms before it read the older facts and
the rest read everything; a derivation that uses no new fact was already made, and one that uses several
is made once (by the variant of its first new atom). Naive: every round re-runs every rule over everything
(kept for the property test and the benchmark, which compare the two).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from .errors import EvaluationError
from .factstore import FactStore, Triple
from .joins import BodyCompiler, Slots, Sources, Step, plan
from .program import Atom, Rule, Var
from .stratify import Stratum, stratify
from .terms import ExprError

Mode = Literal["semi-naive", "naive"]


@dataclass
class MaterialisationStats:
    mode: str = "semi-naive"
    rules: int = 0
    strata: int = 0
    rounds: int = 0
    derived: int = 0  # facts added by reasoning (not in the store before)
    derivations: int = 0  # head instantiations produced, including duplicates
    seconds: float = 0.0
    per_stratum: list[tuple[int, int, int]] = field(default_factory=list)  # (rules, rounds, new facts)


class _CompiledRule:
    def __init__(
        self, rule: Rule, recursive: list[int], sources: Sources, sink: set[Triple], counter: list[int]
    ) -> None:
        self.rule = rule
        self.slots = Slots()
        compiler = BodyCompiler(sources, self.slots)
        emit = self._emitter(sink, sources, counter)

        def sizes(atom: Atom) -> int:
            if isinstance(atom.p, str):
                table = sources.full.tables.get(atom.p)
                return len(table) if table is not None else 0
            return len(sources.full)

        try:
            self.full: Step = compiler.chain(rule.body, plan(rule.body, None, sizes), None, emit)
            # Variant k reads the delta at recursive atom k, the old facts (all but the delta) at the
            # recursive atoms before k and everything after: so each new derivation is made exactly once.
            self.variants: list[Step] = [
                compiler.chain(rule.body, plan(rule.body, k, sizes), k, emit, frozenset(recursive[:n]))
                for n, k in enumerate(recursive)
            ]
        except ExprError as exc:
            raise EvaluationError(f"{rule.where}: {exc}") from exc
        self.width = len(self.slots)

    def _emitter(self, sink: set[Triple], sources: Sources, counter: list[int]) -> Step:
        getters = []
        for atom in self.rule.head:
            parts = []
            for term in atom.terms:
                if isinstance(term, Var):
                    parts.append((True, self.slots.get(term.name)))
                else:
                    parts.append((False, term))
            getters.append(parts)
        add = sink.add

        def emit(env: list) -> None:
            full = sources.full
            for (s_var, s), (p_var, p), (o_var, o) in getters:
                triple = (env[s] if s_var else s, env[p] if p_var else p, env[o] if o_var else o)
                counter[0] += 1
                if not full.contains(*triple):
                    add(triple)

        return emit

    def run(self, step: Step) -> None:
        step([None] * self.width)


def materialise(rules: list[Rule], store: FactStore, mode: Mode = "semi-naive") -> MaterialisationStats:
    """Add to ``store`` every fact the rules derive from it. Raises StratificationError if unstratifiable."""
    if mode not in ("semi-naive", "naive"):
        raise ValueError(f"unknown evaluation mode {mode!r}")
    started = time.perf_counter()
    stats = MaterialisationStats(mode=mode, rules=sum(1 for r in rules if not r.is_fact()))
    strata = stratify(rules)
    stats.strata = len(strata)
    before = len(store)
    for stratum in strata:
        rounds, new_facts = _evaluate_stratum(stratum, store, mode, stats)
        stats.rounds += rounds
        stats.per_stratum.append((len(stratum.rules), rounds, new_facts))
    stats.derived = len(store) - before
    stats.seconds = time.perf_counter() - started
    return stats


def _evaluate_stratum(
    stratum: Stratum, store: FactStore, mode: Mode, stats: MaterialisationStats
) -> tuple[int, int]:
    sources = Sources(store)
    new: set[Triple] = set()
    counter = [0]
    compiled = [
        _CompiledRule(rule, recursive, sources, new, counter)
        for rule, recursive in zip(stratum.rules, stratum.recursive_atoms, strict=True)
    ]
    rounds, total_new = 0, 0
    first = True
    while True:
        rounds += 1
        new.clear()
        for rule in compiled:
            if first or mode == "naive":
                rule.run(rule.full)
            else:
                for variant in rule.variants:
                    rule.run(variant)
        first = False
        if not new:
            break
        for s, p, o in new:
            store.add(s, p, o)
        total_new += len(new)
        if not stratum.recursive:
            break
        sources.delta = FactStore(new)
    stats.derivations += counter[0]
    return rounds, total_new
