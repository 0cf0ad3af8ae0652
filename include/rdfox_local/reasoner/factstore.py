"""An in-memory triple store indexed for rule joins: per predicate, (s, o) pairs and both directions.

Why this shape: a rule atom nearly always has a constant predicate, so the predicate picks a small table;
then a bound subject or object picks the matching other side in one dict look-up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

Triple = tuple[str, str, str]
_EMPTY: frozenset[str] = frozenset()


class PredicateTable:
    """The (s, o) pairs of one predicate, indexed both ways; no separate pair set (a third copy of every
    fact would cost a tuple per fact): membership is one look-up in ``by_s``."""

    __slots__ = ("by_o", "by_s", "size")

    def __init__(self) -> None:
        self.by_s: dict[str, set[str]] = {}
        self.by_o: dict[str, set[str]] = {}
        self.size = 0

    def add(self, s: str, o: str) -> bool:
        objects = self.by_s.get(s)
        if objects is None:
            self.by_s[s] = {o}
        elif o in objects:
            return False
        else:
            objects.add(o)
        subjects = self.by_o.get(o)
        if subjects is None:
            self.by_o[o] = {s}
        else:
            subjects.add(s)
        self.size += 1
        return True

    def has(self, s: str, o: str) -> bool:
        objects = self.by_s.get(s)
        return objects is not None and o in objects

    def pairs(self) -> Iterator[tuple[str, str]]:
        for s, objects in self.by_s.items():
            for o in objects:
                yield s, o

    def objects(self, s: str) -> Iterable[str]:
        return self.by_s.get(s, _EMPTY)

    def subjects(self, o: str) -> Iterable[str]:
        return self.by_o.get(o, _EMPTY)

    def __len__(self) -> int:
        return self.size


class FactStore:
    """A set of triples with per-predicate join indexes."""

    def __init__(self, triples: Iterable[Triple] = ()) -> None:
        self.tables: dict[str, PredicateTable] = {}
        self.size = 0
        for s, p, o in triples:
            self.add(s, p, o)

    def add(self, s: str, p: str, o: str) -> bool:
        table = self.tables.get(p)
        if table is None:
            table = self.tables[p] = PredicateTable()
        if table.add(s, o):
            self.size += 1
            return True
        return False

    def contains(self, s: str, p: str, o: str) -> bool:
        table = self.tables.get(p)
        return table is not None and table.has(s, o)

    def table(self, p: str) -> PredicateTable | None:
        return self.tables.get(p)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Triple]:
        for p, table in self.tables.items():
            for s, o in table.pairs():
                yield (s, p, o)

    def copy(self) -> FactStore:
        return FactStore(iter(self))

    def memory_bytes(self) -> int:
        """An honest estimate of what the facts and their indexes take in this Python process.

        Counts every container and (once) every distinct term string; interpreter overhead and the
        decode cache are not included.
        """
        size = sys.getsizeof(self.tables)
        seen: set[int] = set()

        def term_size(term: str) -> int:
            if id(term) in seen:
                return 0
            seen.add(id(term))
            return sys.getsizeof(term)

        for p, table in self.tables.items():
            size += (
                sys.getsizeof(table) + sys.getsizeof(table.by_s) + sys.getsizeof(table.by_o) + term_size(p)
            )
            for s, objects in table.by_s.items():
                size += sys.getsizeof(objects) + term_size(s) + sum(term_size(o) for o in objects)
            size += sum(sys.getsizeof(v) for v in table.by_o.values())
        return size
