"""Stratification: order the rules so that NOT and AGGREGATE only read facts that are already complete.

Rules are nodes; a rule depends on every rule whose head can produce a fact its body reads. Strongly
connected components are strata (in dependency order); a NOT/AGGREGATE edge inside one component means the
program is not stratifiable, and the error names the rules involved.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import StratificationError
from .program import Atom, Rule, body_atoms


def _can_match(head: Atom, body: Atom) -> bool:
    hp, hc = head.key()
    bp, bc = body.key()
    if hp is not None and bp is not None and hp != bp:
        return False
    if hc is not None and bc is not None and hc != bc:
        return False
    # A class atom [?x, a, C] in the body cannot be produced by a head [?x, a, D] with another constant D;
    # and a head with a constant object cannot produce a body atom whose object is another constant.
    if isinstance(head.o, str) and isinstance(body.o, str) and head.o != body.o:
        return False
    return not (isinstance(head.s, str) and isinstance(body.s, str) and head.s != body.s)


@dataclass
class Stratum:
    rules: list[Rule]
    # For each rule, the indexes (into rule.body) of positive atoms that read facts this stratum derives.
    recursive_atoms: list[list[int]]

    @property
    def recursive(self) -> bool:
        return any(self.recursive_atoms)


def stratify(rules: list[Rule]) -> list[Stratum]:
    rules = [r for r in rules if not r.is_fact()]
    n = len(rules)
    edges: list[list[tuple[int, bool]]] = [[] for _ in range(n)]
    for i, rule in enumerate(rules):
        for atom, negative in body_atoms(rule.body):
            for j, other in enumerate(rules):
                if any(_can_match(head, atom) for head in other.head):
                    edges[i].append((j, negative))

    components = _tarjan(n, edges)
    component_of = {}
    for index, members in enumerate(components):
        for member in members:
            component_of[member] = index

    strata = []
    for index, members in enumerate(components):
        for i in members:
            for j, negative in edges[i]:
                if negative and component_of[j] == index:
                    cycle = ", ".join(rules[m].where for m in sorted(members))
                    raise StratificationError(
                        f"the program is not stratifiable: the rule at {rules[i].where} reads through NOT or "
                        f"AGGREGATE what the rule at {rules[j].where} derives, and they depend on each other "
                        f"(rules in the cycle: {cycle})"
                    )
        members_sorted = sorted(members)
        recursive = []
        for i in members_sorted:
            rule = rules[i]
            own_heads = [h for m in members_sorted for h in rules[m].head]
            recursive.append(
                [
                    k
                    for k, lit in enumerate(rule.body)
                    if isinstance(lit, Atom) and any(_can_match(h, lit) for h in own_heads)
                ]
            )
        strata.append(Stratum([rules[i] for i in members_sorted], recursive))
    return strata


def _tarjan(n: int, edges: list[list[tuple[int, bool]]]) -> list[list[int]]:
    """Strongly connected components, dependencies first (iterative: rule sets can be large)."""
    index_of = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index_of[root] >= 0:
            continue
        work = [(root, 0)]
        while work:
            node, edge_i = work.pop()
            if edge_i == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            recurse = False
            targets = edges[node]
            while edge_i < len(targets):
                target = targets[edge_i][0]
                edge_i += 1
                if index_of[target] < 0:
                    work.append((node, edge_i))
                    work.append((target, 0))
                    recurse = True
                    break
                if on_stack[target]:
                    low[node] = min(low[node], index_of[target])
            if recurse:
                continue
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out
