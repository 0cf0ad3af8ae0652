"""Builtin functions, operators and aggregates, compiled to closures over a rule's variable slots.

An expression error (wrong type, bad lexical form, division by zero) raises ``ExprError``; the evaluator
treats it as "no match" for that binding, as SPARQL and RDFox do for FILTER and BIND.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from . import terms as T
from .iri import is_absolute, resolve
from .program import BinOp, Call, Const, Expr, InList, UnOp, Var
from .terms import BNODE, BOOL, DATE, DATETIME, DURATION, IRI, LANG, NUM, OTHER, STR, ExprError, Value

Env = list
Compiled = Callable[[Env], Value]

AGGREGATE_FUNCTIONS = ("COUNT", "SUM", "MIN", "MAX", "AVG", "MUL")

_CASTS = {
    T.XSD_INTEGER,
    T.XSD_DECIMAL,
    T.XSD_DOUBLE,
    T.XSD_FLOAT,
    T.XSD_STRING,
    T.XSD_BOOLEAN,
    T.XSD_DATETIME,
    T.XSD_DATE,
    T.XSD_DAYTIME_DURATION,
}


def is_known_function_iri(name: str) -> bool:
    return name in _CASTS


TRUE = T.make(BOOL, True)
FALSE = T.make(BOOL, False)


def ebv(value: Value) -> bool:
    """SPARQL's effective boolean value."""
    kind = value.kind
    if kind == BOOL:
        return bool(value.py)
    if kind == NUM:
        return not (value.py == 0 or (isinstance(value.py, float) and math.isnan(value.py)))
    if kind == STR:
        return value.py != ""
    if kind == LANG:
        return value.py[0] != ""
    raise ExprError("no effective boolean value")


# ---- numbers ---------------------------------------------------------------------------------------------


def _promote(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, float) or isinstance(b, float):
        return float(a), float(b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(a), Decimal(b)
    return a, b


def _arith(op: str, a: Value, b: Value) -> Value:
    ka, kb = a.kind, b.kind
    try:
        if ka == NUM and kb == NUM:
            x, y = _promote(a.py, b.py)
            if op == "+":
                return T.make(NUM, x + y)
            if op == "-":
                return T.make(NUM, x - y)
            if op == "*":
                return T.make(NUM, x * y)
            if isinstance(x, int):
                x, y = Decimal(x), Decimal(y)
            if y == 0 and not isinstance(y, float):
                raise ExprError("division by zero")
            return T.make(NUM, x / y)
        if ka in (DATETIME, DATE) and kb == DURATION and op in "+-":
            result = a.py + b.py if op == "+" else a.py - b.py
            return T.make(ka, result)
        if ka == DURATION and kb in (DATETIME, DATE) and op == "+":
            return T.make(kb, b.py + a.py)
        if ka == kb and ka in (DATETIME, DATE) and op == "-":
            return T.make(DURATION, a.py - b.py)
        if ka == kb == DURATION and op in "+-":
            return T.make(DURATION, a.py + b.py if op == "+" else a.py - b.py)
        if ka == DURATION and kb == NUM and op in "*/":
            factor = float(b.py)
            return T.make(DURATION, a.py * factor if op == "*" else a.py / factor)
    except (TypeError, ArithmeticError, InvalidOperation, OverflowError, ValueError) as exc:
        raise ExprError(str(exc)) from exc
    raise ExprError(f"cannot apply {op} to these values")


_ORDERED = {NUM, STR, DATETIME, DATE, DURATION, BOOL}


def compare(op: str, a: Value, b: Value) -> bool:
    if op in ("=", "!="):
        equal = _equal(a, b)
        return equal if op == "=" else not equal
    if a.kind != b.kind or a.kind not in _ORDERED:
        raise ExprError("values are not comparable")
    try:
        return _CMP[op](a.py, b.py)
    except TypeError as exc:  # e.g. a dateTime with a zone against one without
        raise ExprError(str(exc)) from exc


_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _equal(a: Value, b: Value) -> bool:
    if a.term == b.term:
        return True
    if a.kind == b.kind and a.kind in _ORDERED:
        try:
            return bool(a.py == b.py)
        except TypeError as exc:
            raise ExprError(str(exc)) from exc
    if a.kind == OTHER or b.kind == OTHER:
        if a.kind in (IRI, BNODE) or b.kind in (IRI, BNODE):
            return False
        raise ExprError("cannot compare literals of unknown datatypes")
    return False


# ---- string helpers -------------------------------------------------------------------------------------


def _string(value: Value) -> str:
    """The lexical form of a string-like argument (simple literal, xsd:string or language string)."""
    if value.kind == STR:
        return value.py
    if value.kind == LANG:
        return value.py[0]
    raise ExprError("expected a string")


def _string_result(text: str, like: Value) -> Value:
    """A string result keeps the language tag of its (first) argument, as SPARQL's string functions do."""
    if like.kind == LANG:
        return T.make(LANG, (text, like.py[1]))
    return T.make(STR, text)


def _str(value: Value) -> str:
    if value.kind == IRI:
        return value.py
    if value.kind == BNODE:
        raise ExprError("STR of a blank node")
    return T.split_literal(value.term)[0]


def _hash(algorithm: str) -> Callable[[Value], Value]:
    def fn(value: Value) -> Value:
        return T.make(STR, hashlib.new(algorithm, _string(value).encode("utf-8")).hexdigest())

    return fn


def _fn_iri(value: Value, base: str | None = None) -> Value:
    if value.kind == IRI:
        return value
    text = _string(value)
    if any(ch in text for ch in ' <>"{}|^`\\') or any(ord(ch) < 0x20 for ch in text):
        raise ExprError(f"not a valid IRI: {text!r}")
    if not is_absolute(text):
        if base is None:
            # An error, as SPARQL's IRI() without a base: the BIND leaves its variable unbound.
            raise ExprError(f"IRI({text!r}) is relative and no base is declared")
        text = resolve(base, text)
    return T.make(IRI, text)


def _fn_concat(*values: Value) -> Value:
    texts = [_string(v) for v in values]
    langs = {v.py[1] if v.kind == LANG else None for v in values}
    if len(langs) == 1 and None not in langs and values:
        return T.make(LANG, ("".join(texts), langs.pop()))
    return T.make(STR, "".join(texts))


def _fn_substr(value: Value, start: Value, length: Value | None = None) -> Value:
    text = _string(value)
    if start.kind != NUM or (length is not None and length.kind != NUM):
        raise ExprError("SUBSTR needs numeric positions")
    # SPARQL positions are 1-based and may be fractional (rounded).
    first = round(float(start.py))
    last = len(text) + 1 if length is None else first + round(float(length.py))
    begin = max(first, 1)
    return _string_result(text[begin - 1 : max(last - 1, begin - 1)], value)


def _num(value: Value) -> Any:
    if value.kind != NUM:
        raise ExprError("expected a number")
    return value.py


def _fn_round(value: Value) -> Value:
    x = _num(value)
    if isinstance(x, int):
        return value
    if isinstance(x, Decimal):
        return T.make(NUM, x.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return T.make(NUM, float(math.floor(x + 0.5)))


def _rounding(fn: Callable[[Any], Any]) -> Callable[[Value], Value]:
    def apply(value: Value) -> Value:
        x = _num(value)
        if isinstance(x, int):
            return value
        result = fn(x)
        return T.make(NUM, Decimal(result) if isinstance(x, Decimal) else float(result))

    return apply


def _date_part(attribute: str) -> Callable[[Value], Value]:
    def fn(value: Value) -> Value:
        if value.kind not in (DATETIME, DATE) or (
            value.kind == DATE and attribute not in ("year", "month", "day")
        ):
            raise ExprError("expected a dateTime")
        part = getattr(value.py, attribute)
        if attribute == "second":
            return T.make(NUM, Decimal(part) + Decimal(value.py.microsecond) / Decimal(1_000_000))
        return T.make(NUM, part)

    return fn


def _fn_datatype(value: Value) -> Value:
    if value.kind in (IRI, BNODE):
        raise ExprError("DATATYPE of a non-literal")
    _, datatype, language = T.split_literal(value.term)
    if language is not None:
        return T.make(IRI, T.RDF_LANGSTRING)
    return T.make(IRI, datatype or T.XSD_STRING)


def _fn_lang(value: Value) -> Value:
    if value.kind in (IRI, BNODE):
        raise ExprError("LANG of a non-literal")
    return T.make(STR, value.py[1] if value.kind == LANG else "")


def _fn_strdt(value: Value, datatype: Value) -> Value:
    if value.kind != STR or datatype.kind != IRI:
        raise ExprError("STRDT needs a simple literal and an IRI")
    return T.decode(T.literal(value.py, datatype.py))


def _fn_regex(value: Value, pattern: Value, flags: Value | None = None) -> Value:
    return T.make(BOOL, _compile_regex(pattern, flags).search(_string(value)) is not None)


def _fn_replace(value: Value, pattern: Value, replacement: Value, flags: Value | None = None) -> Value:
    repl = re.sub(r"\$(\d)", r"\\\1", _string(replacement))
    return _string_result(_compile_regex(pattern, flags).sub(repl, _string(value)), value)


def _compile_regex(pattern: Value, flags: Value | None) -> re.Pattern[str]:
    bits = 0
    for flag in _string(flags) if flags is not None else "":
        bits |= {"i": re.I, "s": re.S, "m": re.M, "x": re.X}.get(flag, 0)
    try:
        return re.compile(_string(pattern), bits)
    except re.error as exc:
        raise ExprError(f"bad regular expression: {exc}") from exc


def _bool_fn(test: Callable[[Value], bool]) -> Callable[[Value], Value]:
    return lambda value: TRUE if test(value) else FALSE


def _two_strings(test: Callable[[str, str], bool]) -> Callable[[Value, Value], Value]:
    return lambda a, b: TRUE if test(_string(a), _string(b)) else FALSE


def _fn_strbefore(a: Value, b: Value) -> Value:
    text, sep = _string(a), _string(b)
    index = text.find(sep)
    return _string_result(text[:index], a) if index >= 0 else T.make(STR, "")


def _fn_strafter(a: Value, b: Value) -> Value:
    text, sep = _string(a), _string(b)
    index = text.find(sep)
    return _string_result(text[index + len(sep) :], a) if index >= 0 else T.make(STR, "")


# Name -> (function, min args, max args). Strict functions get evaluated arguments.
_FUNCTIONS: dict[str, tuple[Callable[..., Value], int, int]] = {
    "IRI": (_fn_iri, 1, 1),
    "URI": (_fn_iri, 1, 1),
    "STR": (lambda v: T.make(STR, _str(v)), 1, 1),
    "MD5": (_hash("md5"), 1, 1),
    "SHA1": (_hash("sha1"), 1, 1),
    "SHA256": (_hash("sha256"), 1, 1),
    "SHA384": (_hash("sha384"), 1, 1),
    "SHA512": (_hash("sha512"), 1, 1),
    "CONCAT": (_fn_concat, 0, 1_000),
    "STRLEN": (lambda v: T.make(NUM, len(_string(v))), 1, 1),
    "SUBSTR": (_fn_substr, 2, 3),
    "UCASE": (lambda v: _string_result(_string(v).upper(), v), 1, 1),
    "LCASE": (lambda v: _string_result(_string(v).lower(), v), 1, 1),
    "CONTAINS": (_two_strings(lambda a, b: b in a), 2, 2),
    "STRSTARTS": (_two_strings(str.startswith), 2, 2),
    "STRENDS": (_two_strings(str.endswith), 2, 2),
    "STRBEFORE": (_fn_strbefore, 2, 2),
    "STRAFTER": (_fn_strafter, 2, 2),
    "REGEX": (_fn_regex, 2, 3),
    "REPLACE": (_fn_replace, 3, 4),
    "ABS": (lambda v: T.make(NUM, abs(_num(v))), 1, 1),
    "ROUND": (_fn_round, 1, 1),
    "CEIL": (_rounding(math.ceil), 1, 1),
    "FLOOR": (_rounding(math.floor), 1, 1),
    "YEAR": (_date_part("year"), 1, 1),
    "MONTH": (_date_part("month"), 1, 1),
    "DAY": (_date_part("day"), 1, 1),
    "HOURS": (_date_part("hour"), 1, 1),
    "MINUTES": (_date_part("minute"), 1, 1),
    "SECONDS": (_date_part("second"), 1, 1),
    "DATATYPE": (_fn_datatype, 1, 1),
    "LANG": (_fn_lang, 1, 1),
    "STRDT": (_fn_strdt, 2, 2),
    "STRLANG": (lambda v, lang: T.make(LANG, (_string(v), _string(lang))), 2, 2),
    "ISIRI": (_bool_fn(lambda v: v.kind == IRI), 1, 1),
    "ISURI": (_bool_fn(lambda v: v.kind == IRI), 1, 1),
    "ISBLANK": (_bool_fn(lambda v: v.kind == BNODE), 1, 1),
    "ISLITERAL": (_bool_fn(lambda v: v.kind not in (IRI, BNODE)), 1, 1),
    "ISNUMERIC": (_bool_fn(lambda v: v.kind == NUM), 1, 1),
    "SAMETERM": (lambda a, b: TRUE if a.term == b.term else FALSE, 2, 2),
    "BOUND": (lambda v: TRUE, 1, 1),  # every variable a rule expression reads is bound (safety check)
}
_LAZY = {"IF": (3, 3), "COALESCE": (1, 1_000)}
FUNCTION_NAMES = frozenset(_FUNCTIONS) | frozenset(_LAZY)


# ---- casts -------------------------------------------------------------------------------------------------


def _cast(datatype: str, value: Value) -> Value:
    try:
        if value.kind in (IRI, BNODE):
            if datatype == T.XSD_STRING and value.kind == IRI:
                return T.make(STR, value.py)
            raise ExprError("cannot cast a resource")
        if datatype == T.XSD_STRING:
            return T.make(STR, _str(value))
        if datatype == T.XSD_BOOLEAN:
            if value.kind == NUM:
                return T.make(BOOL, value.py != 0)
            if value.kind == BOOL:
                return value
        if value.kind == NUM and datatype in (T.XSD_INTEGER, T.XSD_DECIMAL, T.XSD_DOUBLE, T.XSD_FLOAT):
            py = {T.XSD_INTEGER: int, T.XSD_DECIMAL: Decimal, T.XSD_DOUBLE: float, T.XSD_FLOAT: float}[
                datatype
            ](value.py if not isinstance(value.py, float) or datatype != T.XSD_DECIMAL else repr(value.py))
            return T.make(NUM, py)
        if value.kind == BOOL and datatype in (T.XSD_INTEGER, T.XSD_DECIMAL, T.XSD_DOUBLE, T.XSD_FLOAT):
            return T.make(
                NUM, {T.XSD_INTEGER: int, T.XSD_DECIMAL: Decimal}.get(datatype, float)(int(value.py))
            )
        if value.kind == DATETIME and datatype == T.XSD_DATE:
            return T.make(DATE, value.py.date())
        if value.kind == DATE and datatype == T.XSD_DATETIME:
            return T.make(DATETIME, dt.datetime.combine(value.py, dt.time()))
        lexical = _str(value).strip()
        result = T.decode(T.literal(lexical, datatype))
        if result.kind == OTHER:
            raise ExprError(f"cannot cast {lexical!r} to <{datatype}>")
        return result
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise ExprError(str(exc)) from exc


# ---- compilation ------------------------------------------------------------------------------------------


def compile_expr(expr: Expr, slots: dict[str, int]) -> Compiled:
    """A closure computing ``expr`` from a binding list (variable name -> index in ``slots``)."""
    if isinstance(expr, Var):
        index = slots[expr.name]
        decode = T.decode
        return lambda env: decode(env[index])
    if isinstance(expr, Const):
        value = T.decode(expr.term)
        return lambda env: value
    if isinstance(expr, UnOp):
        arg = compile_expr(expr.arg, slots)
        if expr.op == "!":
            return lambda env: FALSE if ebv(arg(env)) else TRUE
        if expr.op == "-":
            return lambda env: T.make(NUM, -_num(arg(env)))
        return lambda env: T.make(NUM, _num(arg(env)))
    if isinstance(expr, BinOp):
        return _compile_binop(expr, slots)
    if isinstance(expr, InList):
        arg = compile_expr(expr.arg, slots)
        items = [compile_expr(i, slots) for i in expr.items]
        negated = expr.negated

        def in_list(env: Env) -> Value:
            value = arg(env)
            found = any(_equal(value, item(env)) for item in items)
            return TRUE if found != negated else FALSE

        return in_list
    return _compile_call(expr, slots)


def _compile_binop(expr: BinOp, slots: dict[str, int]) -> Compiled:
    left, right, op = compile_expr(expr.left, slots), compile_expr(expr.right, slots), expr.op
    if op == "||":

        def or_(env: Env) -> Value:
            try:
                if ebv(left(env)):
                    return TRUE
            except ExprError:
                return TRUE if ebv(right(env)) else _raise("error || false")
            return TRUE if ebv(right(env)) else FALSE

        return or_
    if op == "&&":

        def and_(env: Env) -> Value:
            try:
                first = ebv(left(env))
            except ExprError:
                return FALSE if not ebv(right(env)) else _raise("error && true")
            return TRUE if first and ebv(right(env)) else FALSE

        return and_
    if op in ("=", "!=", "<", "<=", ">", ">="):
        return lambda env: TRUE if compare(op, left(env), right(env)) else FALSE
    return lambda env: _arith(op, left(env), right(env))


def _raise(message: str) -> Value:
    raise ExprError(message)


def _compile_call(expr: Call, slots: dict[str, int]) -> Compiled:
    args = [compile_expr(a, slots) for a in expr.args]
    if expr.name.startswith("<"):
        datatype = expr.name[1:-1]
        _check_arity(expr, 1, 1)
        arg = args[0]
        return lambda env: _cast(datatype, arg(env))
    if expr.name in _LAZY:
        low, high = _LAZY[expr.name]
        _check_arity(expr, low, high)
        if expr.name == "IF":
            cond, then, other = args
            return lambda env: then(env) if ebv(cond(env)) else other(env)

        def coalesce(env: Env) -> Value:
            for arg in args:
                try:
                    return arg(env)
                except ExprError:
                    continue
            raise ExprError("COALESCE: no argument has a value")

        return coalesce
    function, low, high = _FUNCTIONS[expr.name]
    _check_arity(expr, low, high)
    if expr.name in ("IRI", "URI") and expr.base:
        (only,) = args
        base = expr.base
        return lambda env: _fn_iri(only(env), base)
    if len(args) == 1:
        (only,) = args
        return lambda env: function(only(env))
    if len(args) == 2:
        first, second = args
        return lambda env: function(first(env), second(env))
    return lambda env: function(*(a(env) for a in args))


def arity_error(name: str, count: int) -> str | None:
    """Why a call of builtin ``name`` with ``count`` arguments is wrong, or None (the parser reports it)."""
    if name.startswith("<"):
        low, high = 1, 1
    else:
        low, high = _LAZY[name] if name in _LAZY else _FUNCTIONS[name][1:]
    if low <= count <= high:
        return None
    expected = str(low) if low == high else f"{low} to {high}"
    return f"{name} takes {expected} argument(s), got {count}"


def _check_arity(expr: Call, low: int, high: int) -> None:
    message = arity_error(expr.name, len(expr.args))
    if message:
        raise ValueError(message)


# ---- aggregates ------------------------------------------------------------------------------------------


def _sort_key(value: Value) -> tuple[int, Any]:
    return (value.kind, value.py if value.kind in _ORDERED else value.term)


def aggregate(function: str, distinct: bool, values: Sequence[Value] | None, rows: int) -> Value:
    """One aggregate over a group's values (``values`` None = COUNT(*) over ``rows`` rows)."""
    if values is None:
        return T.make(NUM, rows)
    items: Iterable[Value] = values
    if distinct:
        items = list({v.term: v for v in values}.values())
    items = list(items)
    if function == "COUNT":
        return T.make(NUM, len(items))
    if function in ("MIN", "MAX"):
        if not items:
            raise ExprError(f"{function} of an empty group")
        try:
            pick = min if function == "MIN" else max
            return pick(items, key=_sort_key)
        except TypeError as exc:
            raise ExprError(str(exc)) from exc
    numbers = [_num(v) for v in items]
    if function == "SUM":
        total: Any = 0
        for n in numbers:
            total, n = _promote(total, n)
            total += n
        return T.make(NUM, total)
    if function == "MUL":
        product: Any = 1
        for n in numbers:
            product, n = _promote(product, n)
            product *= n
        return T.make(NUM, product)
    if not numbers:
        return T.make(NUM, 0)
    total = 0
    for n in numbers:
        total, n = _promote(total, n)
        total += n
    if isinstance(total, int):
        total = Decimal(total)
    return T.make(NUM, total / (Decimal(len(numbers)) if isinstance(total, Decimal) else len(numbers)))
