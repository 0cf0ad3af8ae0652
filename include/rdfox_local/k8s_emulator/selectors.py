"""Label and field selectors, as ``kubectl`` and the API server understand them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, Any]], bool]
_SET_RE = re.compile(r"^\s*(\S+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


class SelectorError(ValueError):
    """An unparseable selector (the API server answers 400)."""


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    match = _SET_RE.match(term)
    if match:
        key, op, values = match[1], match[2], {v.strip() for v in match[3].split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for op in ("!=", "==", "="):
        if op in term:
            key, _, value = (part.strip() for part in term.partition(op))
            if not key:
                raise SelectorError(f"invalid selector term {term!r}")
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    if not re.match(r"^[A-Za-z0-9./_-]+$", term):
        raise SelectorError(f"invalid selector term {term!r}")
    return lambda labels: term in labels


def label_selector(text: str | None) -> Matcher:
    tests = [_label_term(t) for t in _split_terms(text or "")]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(test(labels) for test in tests)

    return matches


def _lookup(obj: Mapping[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


def field_selector(text: str | None) -> Matcher:
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    for term in _split_terms(text or ""):
        for op in ("!=", "==", "="):
            if op in term:
                path, _, value = (part.strip() for part in term.partition(op))
                if op == "!=":
                    tests.append(lambda obj, p=path, v=value: _lookup(obj, p) != v)
                else:
                    tests.append(lambda obj, p=path, v=value: _lookup(obj, p) == v)
                break
        else:
            raise SelectorError(f"invalid field selector term {term!r}")
    return lambda obj: all(test(obj) for test in tests)
