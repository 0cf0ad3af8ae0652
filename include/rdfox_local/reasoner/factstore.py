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
    __slots__ = ("by_o", "by_s", "pairs")

    def __init__(self) -> None:
        self.pairs: set[tuple[str, str]] = set()
        self.by_s: dict[str, set[str]] = {}
        self.by_o: dict[str, set[str]] = {}

    def add(self, s: str, o: str) -> bool:
        pair = (s, o)
        if pair in self.pairs:
            return False
        self.pairs.add(pair)
        objects = self.by_s.get(s)
        if objects is None:
            self.by_s[s] = {o}
        else:
            objects.add(o)
        subjects = self.by_o.get(o)
        if subjects is None:
            self.by_o[o] = {s}
        else:
            subjects.add(s)
        return True

    def objects(self, s: str) -> Iterable[str]:
        return self.by_s.get(s, _EMPTY)

    def subjects(self, o: str) -> Iterable[str]:
        return self.by_o.get(o, _EMPTY)

    def __len__(self) -> int:
        return len(self.pairs)


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
        return table is not None and (s, o) in table.pairs

    def table(self, p: str) -> PredicateTable | None:
        return self.tables.get(p)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Triple]:
        for p, table in self.tables.items():
            for s, o in table.pairs:
                yield (s, p, o)

    def copy(self) -> FactStore:
        return FactStore(iter(self))

    def memory_bytes(self) -> int:
        """An honest estimate of what the facts and their indexes take in this Python process.

        Counts every container, pair tuple and (once) every distinct term string; interpreter overhead
        and the decode cache are not included.
        """
        size = sys.getsizeof(self.tables)
        seen: set[int] = set()
        for p, table in self.tables.items():
            size += sys.getsizeof(table.pairs) + sys.getsizeof(table.by_s) + sys.getsizeof(table.by_o)
            for term in (p,):
                if id(term) not in seen:
                    seen.add(id(term))
                    size += sys.getsizeof(term)
            for pair in table.pairs:
                size += sys.getsizeof(pair)
                for term in pair:
                    if id(term) not in seen:
                        seen.add(id(term))
                        size += sys.getsizeof(term)
            size += sum(sys.getsizeof(v) for v in table.by_s.values())
            size += sum(sys.getsizeof(v) for v in table.by_o.values())
        return size
