"""Compile a rule body into a chain of join steps (closures in continuation-passing style).

Each step extends a binding list ``env`` (one slot per variable) and calls the next step; the last step
emits head facts. A planner orders the body greedily: the delta atom first (semi-naive), then atoms with the
most bound positions; FILTER, BIND and NOT run as soon as their variables are bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .builtins import aggregate as aggregate_value
from .builtins import compile_expr, ebv
from .factstore import FactStore
from .program import Aggregate, Atom, Bind, BodyLiteral, Filter, Negation, Var, expr_vars
from .terms import ExprError

Env = list
Step = Callable[[Env], None]


class Sources:
    """Where atoms read from at run time: ``full`` (everything so far) and ``delta`` (last round's news)."""

    def __init__(self, full: FactStore) -> None:
        self.full = full
        self.delta = FactStore()
        self.aggregates: dict[int, Any] = {}


class _Found(Exception):
    """Stops a NOT's inner search at its first match."""


@dataclass
class Slots:
    index: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.index)
        return self.index[name]

    def __len__(self) -> int:
        return len(self.index)


def _positive_vars(body: tuple[BodyLiteral, ...]) -> set[str]:
    out: set[str] = set()
    for lit in body:
        if isinstance(lit, Atom):
            out |= lit.vars()
        elif isinstance(lit, Bind):
            out.add(lit.var)
        elif isinstance(lit, Aggregate):
            out |= lit.output_vars()
    return out


def plan(
    body: tuple[BodyLiteral, ...],
    first: int | None,
    sizes: Callable[[Atom], int],
    outer_bound: set[str] = frozenset(),
) -> list[tuple[int, set[str]]]:
    """The order in which to evaluate ``body``: ``(index, variables bound before it)`` pairs."""
    positive = _positive_vars(body) | set(outer_bound)
    bound = set(outer_bound)
    remaining = list(range(len(body)))
    order: list[tuple[int, set[str]]] = []

    def take(i: int) -> None:
        order.append((i, set(bound)))
        remaining.remove(i)
        lit = body[i]
        if isinstance(lit, Atom):
            bound.update(lit.vars())
        elif isinstance(lit, Bind):
            bound.add(lit.var)
        elif isinstance(lit, Aggregate):
            bound.update(lit.output_vars())

    def needed_later(i: int, var: str) -> bool:
        return any(var in _lit_vars(body[j]) for j in remaining if j != i)

    def ready(i: int, deferred_too: bool = False) -> bool:
        lit = body[i]
        if isinstance(lit, Filter):
            return expr_vars(lit.expr) <= bound
        if isinstance(lit, Bind):
            # A BIND nothing else reads waits for the end: filters and joins first prune the bindings it
            # would otherwise compute in vain (hashing an IRI per candidate chain is the costly part).
            return expr_vars(lit.expr) <= bound and (
                deferred_too or lit.var in bound or needed_later(i, lit.var)
            )
        if isinstance(lit, Negation):
            inner = set().union(*(_lit_vars(x) for x in lit.body)) - set(lit.exists_vars)
            return (inner & positive) <= bound
        return False

    if first is not None:
        take(first)
    while remaining:
        progressed = True
        while progressed:
            progressed = False
            for i in list(remaining):
                if ready(i):
                    take(i)
                    progressed = True
        if not remaining:
            break
        atoms = [i for i in remaining if isinstance(body[i], Atom)]
        if atoms:

            def score(i: int) -> tuple[int, int, int]:
                atom = body[i]
                assert isinstance(atom, Atom)
                known = sum(1 for t in atom.terms if not isinstance(t, Var) or t.name in bound)
                return (known, -sizes(atom), -i)

            take(max(atoms, key=score))
            continue
        aggregates = [i for i in remaining if isinstance(body[i], Aggregate)]
        if aggregates:
            take(aggregates[0])
            continue
        deferred = [i for i in remaining if ready(i, deferred_too=True)]
        if deferred:
            take(deferred[0])
            continue
        # Only literals that can never become ready are left (the parser's safety check prevents this).
        raise ExprError(
            "rule body cannot be ordered: " + ", ".join(type(body[i]).__name__ for i in remaining)
        )
    return order


def _lit_vars(lit: BodyLiteral) -> set[str]:
    if isinstance(lit, Atom):
        return lit.vars()
    if isinstance(lit, Filter):
        return expr_vars(lit.expr)
    if isinstance(lit, Bind):
        return expr_vars(lit.expr) | {lit.var}
    if isinstance(lit, Aggregate):
        return lit.output_vars()
    return set().union(*(_lit_vars(x) for x in lit.body))


class BodyCompiler:
    """Builds the step chain for one body under one plan."""

    def __init__(self, sources: Sources, slots: Slots) -> None:
        self.sources = sources
        self.slots = slots

    def chain(
        self,
        body: tuple[BodyLiteral, ...],
        order: list[tuple[int, set[str]]],
        delta_index: int | None,
        last: Step,
        old: frozenset[int] = frozenset(),
    ) -> Step:
        """``delta_index`` reads the last round's new facts; atoms in ``old`` read everything but those."""
        step = last
        for i, bound in reversed(order):
            lit = body[i]
            if isinstance(lit, Atom):
                source = "delta" if i == delta_index else "old" if i in old else "full"
                step = self.atom(lit, bound, source, step)
            elif isinstance(lit, Filter):
                step = self.filter(lit, step)
            elif isinstance(lit, Bind):
                step = self.bind(lit, bound, step)
            elif isinstance(lit, Negation):
                step = self.negation(lit, bound, step)
            else:
                step = self.aggregate(lit, bound, step)
        return step

    # -- atoms ----------------------------------------------------------------------------------------------
    def atom(self, atom: Atom, bound: set[str], source: str, nxt: Step) -> Step:
        if source == "old":
            return self.atom(atom, bound, "full", self._not_in_delta(atom, nxt))
        # Position kinds: c = constant, b = bound before this atom, f = first free occurrence,
        # r = a repeat of a variable first seen earlier in this same atom (checked, not bound).
        specs = []
        first_seen: set[str] = set()
        for term in atom.terms:
            if isinstance(term, Var):
                slot = self.slots.get(term.name)
                if term.name in bound:
                    specs.append(("b", slot))
                elif term.name in first_seen:
                    specs.append(("r", slot))
                else:
                    specs.append(("f", slot))
                    first_seen.add(term.name)
            else:
                specs.append(("c", term))
        (sk, sv), (pk, pv), (ok, ov) = specs
        sources = self.sources
        if pk == "c" and sk != "r":
            if ok == "r":  # [?x, :p, ?x]
                return _const_pred_step(sources, source, pv, sk, sv, "f", ov, True, nxt)
            return _const_pred_step(sources, source, pv, sk, sv, ok, ov, False, nxt)
        # A variable predicate (rare): one generic step. A repeat of p is the slot p was just bound to.
        s_read = sk in "cbr"
        o_read = ok in "cbr"
        repeat_so = sk == "f" and ok == "r"
        if repeat_so:
            o_read = False

        def var_pred(env: Env) -> None:
            store: FactStore = getattr(sources, source)
            items = [(env[pv], store.tables.get(env[pv]))] if pk == "b" else list(store.tables.items())
            for p, table in items:
                if table is None:
                    continue
                env[pv] = p
                s_known = (sv if sk == "c" else env[sv]) if s_read else None
                o_known = (ov if ok == "c" else env[ov]) if o_read else None
                if s_known is not None and o_known is not None:
                    if table.has(s_known, o_known):
                        nxt(env)
                elif s_known is not None:
                    for o in list(table.objects(s_known)):
                        env[ov] = o
                        nxt(env)
                elif o_known is not None:
                    for s in list(table.subjects(o_known)):
                        env[sv] = s
                        nxt(env)
                else:
                    for s, o in list(table.pairs()):
                        if repeat_so and s != o:
                            continue
                        env[sv] = s
                        env[ov] = o
                        nxt(env)

        return var_pred

    def _not_in_delta(self, atom: Atom, nxt: Step) -> Step:
        """Passes a match on only if its fact is not one of the last round's (semi-naive's "old" facts)."""
        sources = self.sources
        (s_var, s), (p_var, p), (o_var, o) = (
            (True, self.slots.get(t.name)) if isinstance(t, Var) else (False, t) for t in atom.terms
        )

        def not_in_delta(env: Env) -> None:
            table = sources.delta.tables.get(env[p] if p_var else p)
            if table is None or not table.has(env[s] if s_var else s, env[o] if o_var else o):
                nxt(env)

        return not_in_delta

    # -- expressions ---------------------------------------------------------------------------------------
    def filter(self, lit: Filter, nxt: Step) -> Step:
        test = compile_expr(lit.expr, self._expr_slots(lit.expr))

        def filter_step(env: Env) -> None:
            try:
                ok = ebv(test(env))
            except ExprError:
                return
            if ok:
                nxt(env)

        return filter_step

    def bind(self, lit: Bind, bound: set[str], nxt: Step) -> Step:
        compute = compile_expr(lit.expr, self._expr_slots(lit.expr))
        slot = self.slots.get(lit.var)
        if lit.var in bound:

            def bind_check(env: Env) -> None:
                try:
                    value = compute(env)
                except ExprError:
                    return
                if value.term == env[slot]:
                    nxt(env)

            return bind_check

        def bind_step(env: Env) -> None:
            try:
                value = compute(env)
            except ExprError:
                return
            env[slot] = value.term
            nxt(env)

        return bind_step

    def _expr_slots(self, expr: Any) -> dict[str, int]:
        return {name: self.slots.get(name) for name in expr_vars(expr)}

    # -- negation ------------------------------------------------------------------------------------------
    def negation(self, lit: Negation, bound: set[str], nxt: Step) -> Step:
        # Variables of the NOT body not bound outside are existential: fresh slots, overwritten freely.
        order = plan(lit.body, None, lambda a: 0, outer_bound=bound)

        def found(env: Env) -> None:
            raise _Found

        inner = self.chain(lit.body, order, None, found)

        def not_step(env: Env) -> None:
            try:
                inner(env)
            except _Found:
                return
            nxt(env)

        return not_step

    # -- aggregates -----------------------------------------------------------------------------------------
    def aggregate(self, lit: Aggregate, bound: set[str], nxt: Step) -> Step:
        sources = self.sources
        group_slots = [self.slots.get(v) for v in lit.group_vars]
        result_slots = [self.slots.get(b.var) for b in lit.binds]
        known = [i for i, v in enumerate(lit.group_vars) if v in bound]
        free = [i for i, v in enumerate(lit.group_vars) if v not in bound]
        result_known = [i for i, b in enumerate(lit.binds) if b.var in bound]
        key = (id(lit), tuple(known))

        def aggregate_step(env: Env) -> None:
            index = sources.aggregates.get(key)
            if index is None:
                index = sources.aggregates[key] = _aggregate_index(sources, lit, known)
            for group, results in index.get(tuple(env[group_slots[i]] for i in known), ()):
                if any(results[i] != env[result_slots[i]] for i in result_known):
                    continue
                for i in free:
                    env[group_slots[i]] = group[i]
                for i, slot in enumerate(result_slots):
                    env[slot] = results[i]
                nxt(env)

        return aggregate_step


def _const_pred_step(
    sources: Sources, source: str, p: str, sk: str, sv: Any, ok: str, ov: Any, repeat_so: bool, nxt: Step
) -> Step:
    """The common atom shape: a constant predicate; specialised per bound/free pattern for speed."""
    if sk in "cb" and ok in "cb":
        s_const, o_const = sk == "c", ok == "c"

        def check(env: Env) -> None:
            table = getattr(sources, source).tables.get(p)
            if table is None:
                return
            objects = table.by_s.get(sv if s_const else env[sv])
            if objects is not None and (ov if o_const else env[ov]) in objects:
                nxt(env)

        return check
    if sk in "cb":
        s_const = sk == "c"

        def by_subject(env: Env) -> None:
            table = getattr(sources, source).tables.get(p)
            if table is None:
                return
            objects = table.by_s.get(sv if s_const else env[sv])
            if objects:
                for o in objects:
                    env[ov] = o
                    nxt(env)

        return by_subject
    if ok in "cb":
        o_const = ok == "c"

        def by_object(env: Env) -> None:
            table = getattr(sources, source).tables.get(p)
            if table is None:
                return
            subjects = table.by_o.get(ov if o_const else env[ov])
            if subjects:
                for s in subjects:
                    env[sv] = s
                    nxt(env)

        return by_object

    def scan(env: Env) -> None:
        table = getattr(sources, source).tables.get(p)
        if table is None:
            return
        for s, objects in table.by_s.items():
            env[sv] = s
            if repeat_so:
                if s in objects:
                    env[ov] = s
                    nxt(env)
                continue
            for o in objects:
                env[ov] = o
                nxt(env)

    return scan


def _aggregate_index(sources: Sources, lit: Aggregate, known: list[int]) -> dict[tuple, list]:
    """Evaluate an AGGREGATE's body once (it reads only lower strata) and group it."""
    slots = Slots()
    for name in lit.group_vars:
        slots.get(name)
    order = plan(lit.body, None, lambda atom: _size(sources.full, atom))
    compiler = BodyCompiler(sources, slots)
    rows: set[tuple] = set()

    def collect(env: Env) -> None:
        rows.add(tuple(env))

    # Compile the chain first so that every inner variable has a slot, then size the env.
    chain = compiler.chain(lit.body, order, None, collect)
    arg_fns = [
        compile_expr(b.arg, {n: slots.get(n) for n in expr_vars(b.arg)}) if b.arg is not None else None
        for b in lit.binds
    ]
    chain([None] * len(slots))
    width = len(lit.group_vars)
    groups: dict[tuple, list[tuple]] = {}
    for row in rows:
        groups.setdefault(row[:width], []).append(row)
    if not groups and not lit.group_vars:
        groups[()] = []
    index: dict[tuple, list] = {}
    for group, members in groups.items():
        results = []
        try:
            for bind, fn in zip(lit.binds, arg_fns, strict=True):
                if fn is None:
                    results.append(aggregate_value(bind.function, bind.distinct, None, len(members)).term)
                    continue
                values = []
                for row in members:
                    try:
                        values.append(fn(list(row)))
                    except ExprError:
                        continue  # SPARQL: an error in one row leaves that row out of COUNT(?x)-like sums
                results.append(aggregate_value(bind.function, bind.distinct, values, len(members)).term)
        except ExprError:
            continue
        index.setdefault(tuple(group[i] for i in known), []).append((group, tuple(results)))
    return index


def _size(store: FactStore, atom: Atom) -> int:
    if isinstance(atom.p, str):
        table = store.tables.get(atom.p)
        return len(table) if table is not None else 0
    return len(store)
