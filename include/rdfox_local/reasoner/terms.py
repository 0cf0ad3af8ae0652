"""RDF terms as interned N-Triples strings, and their typed values for FILTER/BIND/AGGREGATE.

Why strings: joins hash and compare terms millions of times; Python caches a ``str`` hash, so a term
written the way pyoxigraph prints it (``<iri>``, ``_:b``, ``"lex"^^<dt>``, ``"lex"@en``) is the cheapest
identity there is, and it goes back into pyoxigraph as N-Triples unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import pyoxigraph as ox

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
XSD_STRING = XSD + "string"
XSD_BOOLEAN = XSD + "boolean"
XSD_INTEGER = XSD + "integer"
XSD_DECIMAL = XSD + "decimal"
XSD_DOUBLE = XSD + "double"
XSD_FLOAT = XSD + "float"
XSD_DATETIME = XSD + "dateTime"
XSD_DATE = XSD + "date"
XSD_DAYTIME_DURATION = XSD + "dayTimeDuration"
XSD_DURATION = XSD + "duration"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

_INTEGER_TYPES = {
    XSD + name
    for name in (
        "integer",
        "int",
        "long",
        "short",
        "byte",
        "nonNegativeInteger",
        "positiveInteger",
        "nonPositiveInteger",
        "negativeInteger",
        "unsignedLong",
        "unsignedInt",
        "unsignedShort",
        "unsignedByte",
    )
}

# Value kinds: what a term means to an expression.
IRI, BNODE, STR, LANG, NUM, BOOL, DATETIME, DATE, DURATION, OTHER = range(10)


class Value(NamedTuple):
    """A decoded term: ``kind`` (module constants), the Python value, and the term string it came from."""

    kind: int
    py: Any
    term: str


class ExprError(Exception):
    """A SPARQL expression error (type error, bad lexical form...): the FILTER/BIND simply does not match."""


_ESCAPE_RE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_SIMPLE_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape_match(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] in "uU" and len(code) > 1:
        return chr(int(code[1:], 16))
    return _SIMPLE_ESCAPES.get(code, code)


def unescape(text: str) -> str:
    return _ESCAPE_RE.sub(_unescape_match, text) if "\\" in text else text


def iri(value: str) -> str:
    return f"<{value}>"


# Characters pyoxigraph escapes when it prints a literal; without them the term is just quoted (fast path:
# rules build millions of intermediate strings, and constructing an ox.Literal for each is the bottleneck).
_NEEDS_ESCAPE_RE = re.compile(r'[\x00-\x1f"\\\x7f]')


def literal(lexical: str, datatype: str | None = None, language: str | None = None) -> str:
    """The term string of a literal, exactly as pyoxigraph prints it (pyoxigraph escapes the rare cases)."""
    if not _NEEDS_ESCAPE_RE.search(lexical) and (not language or language.isascii()):
        if language:
            return f'"{lexical}"@{language.lower()}'
        if datatype is None or datatype == XSD_STRING:
            return f'"{lexical}"'
        return f'"{lexical}"^^<{datatype}>'
    if language:
        return str(ox.Literal(lexical, language=language))
    if datatype is None or datatype == XSD_STRING:
        return str(ox.Literal(lexical))
    return str(ox.Literal(lexical, datatype=ox.NamedNode(datatype)))


def split_literal(term: str) -> tuple[str, str | None, str | None]:
    """``(lexical, datatype, language)`` of a literal term string."""
    end = term.rfind('"')
    lexical = unescape(term[1:end])
    rest = term[end + 1 :]
    if rest.startswith("^^<"):
        return lexical, rest[3:-1], None
    if rest.startswith("@"):
        return lexical, None, rest[1:]
    return lexical, None, None


def _parse_datetime(text: str) -> dt.datetime:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return dt.datetime.fromisoformat(value)


_DURATION_RE = re.compile(
    r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def _parse_duration(text: str) -> dt.timedelta:
    match = _DURATION_RE.match(text.strip())
    if not match or text.strip() in ("P", "-P") or text.strip().endswith("T"):
        raise ValueError(f"not a duration: {text!r}")
    sign, years, months, days, hours, minutes, seconds = match.groups()
    if years or months:
        # Year/month durations have no fixed length in days; RDFox compares them apart. Not needed here.
        raise ValueError(f"year/month durations are not supported: {text!r}")
    delta = dt.timedelta(
        days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds or 0)
    )
    return -delta if sign else delta


def _decode_typed(lexical: str, datatype: str, term: str) -> Value:
    try:
        if datatype in _INTEGER_TYPES:
            return Value(NUM, int(lexical.strip()), term)
        if datatype == XSD_DECIMAL:
            return Value(NUM, Decimal(lexical.strip()), term)
        if datatype in (XSD_DOUBLE, XSD_FLOAT):
            return Value(NUM, float(lexical.strip().replace("INF", "inf")), term)
        if datatype == XSD_BOOLEAN:
            if lexical.strip() not in ("true", "false", "1", "0"):
                raise ValueError(lexical)
            return Value(BOOL, lexical.strip() in ("true", "1"), term)
        if datatype == XSD_DATETIME:
            return Value(DATETIME, _parse_datetime(lexical), term)
        if datatype == XSD_DATE:
            return Value(DATE, dt.date.fromisoformat(lexical.strip()), term)
        if datatype in (XSD_DAYTIME_DURATION, XSD_DURATION):
            return Value(DURATION, _parse_duration(lexical), term)
        if datatype == XSD_STRING:
            return Value(STR, lexical, term)
    except (ValueError, InvalidOperation):
        return Value(OTHER, (lexical, datatype), term)  # ill-typed: only term identity applies
    return Value(OTHER, (lexical, datatype), term)


_DECODE_CACHE: dict[str, Value] = {}
_CACHE_LIMIT = 1_000_000


def decode(term: str) -> Value:
    """The value of a term string (cached: rules decode the same dates and amounts over and over)."""
    value = _DECODE_CACHE.get(term)
    if value is not None:
        return value
    first = term[0]
    if first == "<":
        value = Value(IRI, term[1:-1], term)
    elif first == "_":
        value = Value(BNODE, term[2:], term)
    else:
        lexical, datatype, language = split_literal(term)
        if language is not None:
            value = Value(LANG, (lexical, language), term)
        elif datatype is None:
            value = Value(STR, lexical, term)
        else:
            value = _decode_typed(lexical, datatype, term)
    if len(_DECODE_CACHE) >= _CACHE_LIMIT:
        _DECODE_CACHE.clear()
    _DECODE_CACHE[term] = value
    return value


def _decimal_lexical(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0")
        text = text + "0" if text.endswith(".") else text
    else:
        text += ".0"
    return text


def _duration_lexical(delta: dt.timedelta) -> str:
    sign = "-" if delta < dt.timedelta(0) else ""
    delta = abs(delta)
    days, seconds = delta.days, delta.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    frac = (
        f"{secs + delta.microseconds / 1e6:.6f}".rstrip("0").rstrip(".") if delta.microseconds else str(secs)
    )
    out = f"{sign}P" + (f"{days}D" if days else "")
    time_part = (
        (f"{hours}H" if hours else "")
        + (f"{minutes}M" if minutes else "")
        + (f"{frac}S" if secs or delta.microseconds else "")
    )
    if time_part:
        out += "T" + time_part
    return out if out not in ("P", "-P") else "PT0S"


def encode(kind: int, py: Any) -> str:
    """The term string for a computed value."""
    if kind == NUM:
        if isinstance(py, bool):
            return literal("true" if py else "false", XSD_BOOLEAN)
        if isinstance(py, int):
            return literal(str(py), XSD_INTEGER)
        if isinstance(py, Decimal):
            return literal(_decimal_lexical(py), XSD_DECIMAL)
        return literal(repr(float(py)).replace("inf", "INF"), XSD_DOUBLE)
    if kind == BOOL:
        return literal("true" if py else "false", XSD_BOOLEAN)
    if kind == STR:
        return literal(py)
    if kind == LANG:
        return literal(py[0], language=py[1])
    if kind == DATETIME:
        return literal(py.isoformat(), XSD_DATETIME)
    if kind == DATE:
        return literal(py.isoformat(), XSD_DATE)
    if kind == DURATION:
        return literal(_duration_lexical(py), XSD_DAYTIME_DURATION)
    if kind == IRI:
        return iri(py)
    raise ExprError(f"cannot build a term of kind {kind}")


def make(kind: int, py: Any) -> Value:
    return Value(kind, py, encode(kind, py))


def is_literal(term: str) -> bool:
    return term[0] == '"'
