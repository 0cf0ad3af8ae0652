"""Prefixes declared in the RDFox script before anything is imported (setting RDFOX_PREFIXES).

The old pod script always declared ``:``, ``prop:``, ``type:`` and ``tt:``; its users' rule files and
queries use them without declaring them, so they are the default. Names and IRIs reach the RDFox shell
script verbatim, hence the strict checks. Names are kept without the trailing ``:`` (``""`` is ``:``).
Standard library only: the prepare step's image holds this module (and ``pod/``), not the rest of the domain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

LEGACY_BASE = "http://oxfordsemantic.tech/transactions/"
DEFAULT_PREFIXES: Mapping[str, str] = {
    "": f"{LEGACY_BASE}entities#",
    "prop": f"{LEGACY_BASE}properties#",
    "type": f"{LEGACY_BASE}classes#",
    "tt": f"{LEGACY_BASE}tupletables#",
}

# SPARQL's PN_PREFIX, ASCII only: a letter, then letters, digits, '_', '-', '.'; not ending in '.'.
# Used with fullmatch: a "$" anchor would also match before a final newline, and "ex\n" would then put a
# second command into the RDFox script.
_NAME_RE = re.compile(r"(?:[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?)?")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Not allowed in an IRIREF; '$' would be expanded by the RDFox shell ($(var)).
_IRI_FORBIDDEN = set('<>"{}|^`\\$')
_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return "an object" if isinstance(value, Mapping) else _JSON_TYPES.get(type(value), type(value).__name__)


def check_prefix_name(name: object) -> str:
    """The prefix name without its trailing ``:``; ValueError says what is wrong."""
    if not isinstance(name, str):
        raise ValueError(f"prefix name must be a string, got {_type_name(name)}")
    bare = name[:-1] if name.endswith(":") else name
    if not _NAME_RE.fullmatch(bare):
        raise ValueError(
            f"{name!r} is not a valid prefix name (a letter, then letters, digits, '_', '-' or '.'; "
            "empty for ':')"
        )
    return bare


def check_prefix_iri(name: str, iri: object) -> str:
    label = f"{name}:"
    if not isinstance(iri, str):
        raise ValueError(f"prefix {label!r}: IRI must be a string, got {_type_name(iri)}")
    if not _SCHEME_RE.match(iri):
        raise ValueError(f"prefix {label!r}: IRI {iri!r} must be absolute (start with a scheme, e.g. http:)")
    bad = [ch for ch in iri if ch in _IRI_FORBIDDEN or ch.isspace() or not ch.isprintable()]
    if bad:
        raise ValueError(f"prefix {label!r}: IRI {iri!r} contains {bad[0]!r}, which is not allowed in an IRI")
    return iri


def check_prefixes(prefixes: Mapping[object, object]) -> dict[str, str]:
    """Validated name -> IRI (names without ':'); two spellings of one name are an error."""
    out: dict[str, str] = {}
    for raw_name, iri in prefixes.items():
        name = check_prefix_name(raw_name)
        if name in out:
            raise ValueError(f"prefix {name + ':'!r} is given twice")
        out[name] = check_prefix_iri(name, iri)
    return out


def parse_prefixes(value: object) -> dict[str, str]:
    """The setting's value: a JSON object, or text ``name=IRI`` pairs separated by whitespace.

    The text form is what SSM/environment hold, e.g. ``:=http://x/e# prop=http://x/p#`` (an IRI has no
    whitespace, so nothing needs quoting).
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not valid JSON ({exc})") from None
        else:
            pairs: dict[str, str] = {}
            for item in text.split():
                name, sep, iri = item.partition("=")
                if not sep:
                    raise ValueError(f"{item!r}: expected NAME=IRI (e.g. prop=http://example.org/p#)")
                if check_prefix_name(name) in {check_prefix_name(n) for n in pairs}:
                    raise ValueError(f"prefix {name!r} is given twice")
                pairs[name] = iri
            value = pairs
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object of prefix name -> IRI, got {_type_name(value)}")
    return check_prefixes(value)


def merge_prefixes(base: Mapping[str, str], changes: Mapping[str, str] | None) -> dict[str, str]:
    """``base`` with ``changes`` added or replacing same-named prefixes (both already validated)."""
    return {**base, **(changes or {})}
