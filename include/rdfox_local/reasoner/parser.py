"""Parser for RDFox rule files (``.dlog``): prefixes, rules, facts; errors name ``file:line:column``.

Accepted: ``PREFIX p: <iri>``, ``@prefix p: <iri> .``, ``BASE <iri>``/``@base``; ``head :- body .`` with
several head atoms; atoms ``[s, p, o]``, ``p[s, o]``, ``C[s]`` and ``a``; FILTER, BIND, NOT B, NOT(B1, ...),
NOT EXISTS ?v... IN (B1, ...), AGGREGATE(B1, ... ON ?g... BIND f(e) AS ?v ...). Everything else is an
error at its line (never skipped).
"""

from __future__ import annotations

from pathlib import Path

from . import terms as T
from .builtins import AGGREGATE_FUNCTIONS, FUNCTION_NAMES, arity_error, is_known_function_iri
from .errors import ReasonerError, RuleSyntaxError
from .iri import is_absolute, resolve
from .lexer import Token, tokenize
from .program import (
    Aggregate,
    AggregateBind,
    Atom,
    Bind,
    BinOp,
    BodyLiteral,
    Call,
    Const,
    Expr,
    Filter,
    InList,
    Negation,
    Program,
    Rule,
    Term,
    UnOp,
    Var,
    expr_vars,
)

_COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
_KEYWORDS = {"NOT", "FILTER", "BIND", "AGGREGATE", "EXISTS", "IN", "ON", "AS"}


class _Parser:
    def __init__(self, text: str, path: str, prefixes: dict[str, str] | None, base: str | None) -> None:
        self.path = path
        self.tokens = tokenize(text, path)
        self.i = 0
        self.prefixes: dict[str, str] = dict(prefixes or {})
        self.base = base

    # -- token helpers ------------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, token: Token | None = None) -> RuleSyntaxError:
        token = token or self.tok
        return RuleSyntaxError(self.path, token.line, message, token.col)

    def next(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, text: str) -> bool:
        return self.tok.kind == "PUNCT" and self.tok.text == text

    def at_kw(self, word: str) -> bool:
        return self.tok.kind == "NAME" and self.tok.text.upper() == word

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected '{text}' but found {self.describe(self.tok)}")
        return self.next()

    def expect_kw(self, word: str) -> Token:
        if not self.at_kw(word):
            raise self.error(f"expected '{word}' but found {self.describe(self.tok)}")
        return self.next()

    @staticmethod
    def describe(token: Token) -> str:
        return "end of file" if token.kind == "EOF" else repr(token.text)

    # -- document -------------------------------------------------------------------------------------------
    def document(self) -> Program:
        program = Program()
        while self.tok.kind != "EOF":
            if self.directive():
                continue
            program.rules.append(self.rule())
        program.prefixes = self.prefixes
        return program

    def directive(self) -> bool:
        token = self.tok
        word = token.text.upper() if token.kind in ("NAME", "LANGTAG") else ""
        if word in ("PREFIX", "@PREFIX"):
            self.next()
            name = self.next()
            if name.kind != "PNAME" or not name.text.endswith(":"):
                raise self.error(f"expected a prefix name such as 'p:' but found {self.describe(name)}", name)
            self.prefixes[name.text[:-1]] = self.iri_ref(self.next())
            if word == "@PREFIX":
                self.expect(".")
            return True
        if word in ("BASE", "@BASE"):
            self.next()
            self.base = self.iri_ref(self.next())
            if word == "@BASE":
                self.expect(".")
            return True
        if token.kind == "LANGTAG":
            raise self.error(f"unsupported directive {token.text!r}")
        return False

    def iri_ref(self, token: Token) -> str:
        if token.kind != "IRI":
            raise self.error(f"expected an IRI in <...> but found {self.describe(token)}", token)
        value = token.text[1:-1]
        if self.base and not is_absolute(value):
            value = resolve(self.base, value)
        return value

    # -- rules --------------------------------------------------------------------------------------------
    def rule(self) -> Rule:
        start = self.tok
        head = [self.atom()]
        while self.at(","):
            self.next()
            head.append(self.atom())
        body: list[BodyLiteral] = []
        if self.at(":-"):
            self.next()
            body = self.conjunction(stop=("."))
        elif not self.at("."):
            raise self.error(
                f"expected ':-', ',' or '.' after a head atom but found {self.describe(self.tok)}"
            )
        self.expect(".")
        rule = Rule(tuple(head), tuple(body), self.path, start.line)
        check_rule(rule)
        return rule

    def conjunction(self, stop: tuple[str, ...] | str) -> list[BodyLiteral]:
        literals = [self.body_literal()]
        while self.at(","):
            self.next()
            literals.append(self.body_literal())
        return literals

    def body_literal(self) -> BodyLiteral:
        token = self.tok
        if self.at_kw("NOT"):
            self.next()
            exists_vars: list[str] = []
            if self.at_kw("EXISTS"):
                self.next()
                exists_vars.append(self.var().name)
                while self.at(","):
                    self.next()
                    exists_vars.append(self.var().name)
                self.expect_kw("IN")
            if self.at("("):
                self.next()
                inner = self.conjunction(stop=")")
                self.expect(")")
            else:
                inner = [self.atom()]
            return Negation(tuple(inner), tuple(exists_vars), token.line)
        if self.at_kw("FILTER"):
            self.next()
            self.expect("(")
            expr = self.expr()
            self.expect(")")
            return Filter(expr, token.line)
        if self.at_kw("BIND"):
            self.next()
            self.expect("(")
            expr = self.expr()
            self.expect_kw("AS")
            var = self.var()
            self.expect(")")
            return Bind(expr, var.name, token.line)
        if self.at_kw("AGGREGATE"):
            return self.aggregate()
        if token.kind == "NAME" and token.text.upper() in ("OPTIONAL", "UNION", "MINUS", "VALUES", "EXISTS"):
            raise self.error(f"unsupported construct {token.text!r} in a rule body")
        return self.atom()

    def aggregate(self) -> Aggregate:
        token = self.next()
        self.expect("(")
        inner: list[BodyLiteral] = [self.body_literal()]
        while self.at(","):
            self.next()
            inner.append(self.body_literal())
        group: list[str] = []
        if self.at_kw("ON"):
            self.next()
            while self.tok.kind == "VAR":
                group.append(self.var().name)
        binds: list[AggregateBind] = []
        while self.at_kw("BIND"):
            self.next()
            fname = self.next()
            function = fname.text.upper()
            if fname.kind != "NAME" or function not in AGGREGATE_FUNCTIONS:
                raise self.error(
                    f"unsupported aggregate function {fname.text!r} "
                    f"(supported: {', '.join(AGGREGATE_FUNCTIONS)})",
                    fname,
                )
            self.expect("(")
            distinct = False
            if self.at_kw("DISTINCT"):
                self.next()
                distinct = True
            arg: Expr | None
            if self.at("*"):
                if function != "COUNT":
                    raise self.error(f"{function}(*) is not allowed; only COUNT(*)")
                self.next()
                arg = None
            else:
                arg = self.expr()
            self.expect(")")
            self.expect_kw("AS")
            binds.append(AggregateBind(function, distinct, arg, self.var().name))
        if not binds:
            raise self.error(
                f"expected 'ON' or 'BIND f(...) AS ?v' in AGGREGATE but found {self.describe(self.tok)}"
            )
        self.expect(")")
        return Aggregate(tuple(inner), tuple(group), tuple(binds), token.line)

    def var(self) -> Var:
        token = self.next()
        if token.kind != "VAR":
            raise self.error(f"expected a variable but found {self.describe(token)}", token)
        return Var(token.text[1:])

    def atom(self) -> Atom:
        token = self.tok
        if self.at("["):
            self.next()
            args = self.term_list("]")
            if len(args) != 3:
                what = (
                    "named-graph (quad) atoms are not supported" if len(args) == 4 else "expected [s, p, o]"
                )
                raise self.error(f"{what}: got {len(args)} terms", token)
            return Atom(args[0], args[1], args[2], token.line)
        if token.kind in ("IRI", "PNAME") or (token.kind == "NAME" and token.text == "a"):
            predicate = self.term()
            if self.at("("):
                raise self.error("tuple-table atoms 'p(...)' are not supported; use p[s, o] or [s, p, o]")
            self.expect("[")
            args = self.term_list("]")
            if len(args) == 1:
                return Atom(args[0], T.RDF_TYPE, predicate, token.line)
            if len(args) == 2:
                return Atom(args[0], predicate, args[1], token.line)
            raise self.error(f"an atom p[...] takes 1 or 2 terms, got {len(args)}", token)
        if token.kind == "NAME" and token.text.upper() in _KEYWORDS:
            raise self.error(f"{token.text!r} is not allowed here")
        raise self.error(f"expected an atom such as [?s, :p, ?o] but found {self.describe(token)}")

    def term_list(self, close: str) -> list[Term]:
        args = [self.term()]
        while self.at(","):
            self.next()
            args.append(self.term())
        self.expect(close)
        return args

    def term(self) -> Term:
        token = self.tok
        if token.kind == "VAR":
            return self.var()
        value = self.constant()
        if value is None:
            raise self.error(f"expected a term (variable, IRI or literal) but found {self.describe(token)}")
        return value

    def constant(self) -> str | None:
        """A constant term string, or None (nothing consumed) if the token does not start one."""
        token = self.tok
        if token.kind == "IRI":
            self.next()
            return T.iri(self.iri_ref(token))
        if token.kind == "PNAME":
            self.next()
            return T.iri(self.expand(token))
        if token.kind == "BNODE":
            self.next()
            return token.text
        if token.kind == "NAME":
            if token.text == "a":
                self.next()
                return T.RDF_TYPE
            if token.text in ("true", "false"):
                self.next()
                return T.literal(token.text, T.XSD_BOOLEAN)
            return None
        if token.kind == "STRING":
            self.next()
            raw = token.text
            quote = 3 if raw[:3] in ('"""', "'''") else 1
            lexical = T.unescape(raw[quote:-quote])
            if self.tok.kind == "LANGTAG":
                return T.literal(lexical, language=self.next().text[1:])
            if self.at("^^"):
                self.next()
                dt_token = self.next()
                if dt_token.kind == "IRI":
                    return T.literal(lexical, self.iri_ref(dt_token))
                if dt_token.kind == "PNAME":
                    return T.literal(lexical, self.expand(dt_token))
                raise self.error(
                    f"expected a datatype IRI after '^^' but found {self.describe(dt_token)}", dt_token
                )
            return T.literal(lexical)
        if token.kind == "NUMBER" or (token.kind == "PUNCT" and token.text in "+-" and self.peek_number()):
            sign = ""
            if token.kind == "PUNCT":
                sign = "-" if self.next().text == "-" else ""
            text = sign + self.next().text
            if "e" in text.lower():
                return T.literal(text, T.XSD_DOUBLE)
            if "." in text:
                return T.literal(text, T.XSD_DECIMAL)
            return T.literal(text, T.XSD_INTEGER)
        return None

    def peek_number(self) -> bool:
        return self.tokens[self.i + 1].kind == "NUMBER"

    def expand(self, token: Token) -> str:
        prefix, _, local = token.text.partition(":")
        if prefix not in self.prefixes:
            raise self.error(f"undeclared prefix '{prefix}:'", token)
        return self.prefixes[prefix] + T.unescape(local) if "\\" in local else self.prefixes[prefix] + local

    # -- expressions (SPARQL precedence) --------------------------------------------------------------------
    def expr(self) -> Expr:
        left = self.and_expr()
        while self.at("||"):
            self.next()
            left = BinOp("||", left, self.and_expr())
        return left

    def and_expr(self) -> Expr:
        left = self.rel_expr()
        while self.at("&&"):
            self.next()
            left = BinOp("&&", left, self.rel_expr())
        return left

    def rel_expr(self) -> Expr:
        left = self.add_expr()
        if self.tok.kind == "PUNCT" and self.tok.text in _COMPARISONS:
            op = self.next().text
            return BinOp(op, left, self.add_expr())
        negated = False
        if (
            self.at_kw("NOT")
            and self.tokens[self.i + 1].kind == "NAME"
            and self.tokens[self.i + 1].text.upper() == "IN"
        ):
            self.next()
            negated = True
        if self.at_kw("IN"):
            self.next()
            self.expect("(")
            items: list[Expr] = []
            if not self.at(")"):
                items.append(self.expr())
                while self.at(","):
                    self.next()
                    items.append(self.expr())
            self.expect(")")
            return InList(left, tuple(items), negated)
        return left

    def add_expr(self) -> Expr:
        left = self.mul_expr()
        while self.tok.kind == "PUNCT" and self.tok.text in ("+", "-"):
            op = self.next().text
            left = BinOp(op, left, self.mul_expr())
        return left

    def mul_expr(self) -> Expr:
        left = self.unary_expr()
        while self.tok.kind == "PUNCT" and self.tok.text in ("*", "/"):
            op = self.next().text
            left = BinOp(op, left, self.unary_expr())
        return left

    def unary_expr(self) -> Expr:
        if self.tok.kind == "PUNCT" and self.tok.text in ("!", "-", "+"):
            op = self.next().text
            return UnOp(op, self.unary_expr())
        return self.primary()

    def primary(self) -> Expr:
        token = self.tok
        if self.at("("):
            self.next()
            inner = self.expr()
            self.expect(")")
            return inner
        if token.kind == "VAR":
            return self.var()
        if token.kind == "NAME" and token.text not in ("a", "true", "false"):
            name = token.text.upper()
            if name not in FUNCTION_NAMES:
                raise self.error(f"unsupported function or keyword {token.text!r} in an expression")
            self.next()
            # SPARQL 1.1: IRI() resolves a relative IRI against the base in force where it is written.
            base = self.base if name in ("IRI", "URI") else None
            return self.checked_call(Call(name, self.call_args(), token.line, base=base), token)
        if (
            token.kind in ("IRI", "PNAME")
            and self.tokens[self.i + 1].kind == "PUNCT"
            and self.tokens[self.i + 1].text == "("
        ):
            self.next()
            name = self.iri_ref(token) if token.kind == "IRI" else self.expand(token)
            if not is_known_function_iri(name):
                raise self.error(f"unsupported function <{name}>", token)
            return self.checked_call(Call(f"<{name}>", self.call_args(), token.line), token)
        value = self.constant()
        if value is None:
            raise self.error(f"expected an expression but found {self.describe(token)}")
        return Const(value)

    def checked_call(self, call: Call, token: Token) -> Call:
        message = arity_error(call.name, len(call.args))
        if message:
            raise self.error(message, token)
        return call

    def call_args(self) -> tuple[Expr, ...]:
        self.expect("(")
        args: list[Expr] = []
        if not self.at(")"):
            args.append(self.expr())
            while self.at(","):
                self.next()
                args.append(self.expr())
        self.expect(")")
        return tuple(args)


# ---- safety ----------------------------------------------------------------------------------------------


def _positive_vars(body: tuple[BodyLiteral, ...]) -> set[str]:
    bound: set[str] = set()
    for lit in body:
        if isinstance(lit, Atom):
            bound |= lit.vars()
        elif isinstance(lit, Bind):
            bound.add(lit.var)
        elif isinstance(lit, Aggregate):
            bound |= lit.output_vars()
    return bound


def _check_body(
    body: tuple[BodyLiteral, ...], needed: set[str], path: str, line: int, outer: set[str]
) -> None:
    bound = _positive_vars(body) | outer
    for lit in body:
        if isinstance(lit, Filter):
            missing = expr_vars(lit.expr) - bound
            if missing:
                raise RuleSyntaxError(
                    path, lit.line, f"FILTER uses {_names(missing)} not bound by the rule body"
                )
        elif isinstance(lit, Bind):
            missing = expr_vars(lit.expr) - bound
            if missing:
                raise RuleSyntaxError(
                    path, lit.line, f"BIND uses {_names(missing)} not bound by the rule body"
                )
        elif isinstance(lit, Aggregate):
            inner_needed = set(lit.group_vars)
            for b in lit.binds:
                if b.arg is not None:
                    inner_needed |= expr_vars(b.arg)
            _check_body(lit.body, inner_needed, path, lit.line, set())
        elif isinstance(lit, Negation):
            # Variables only inside NOT are existential; NOT EXISTS names them explicitly.
            inner = _positive_vars(lit.body) | bound
            for sub in lit.body:
                if isinstance(sub, (Filter, Bind)) and expr_vars(sub.expr) - inner:
                    raise RuleSyntaxError(path, lit.line, "an expression inside NOT uses an unbound variable")
                if isinstance(sub, (Negation, Aggregate)):
                    raise RuleSyntaxError(path, lit.line, "nested NOT/AGGREGATE inside NOT is not supported")
    missing = needed - bound
    if missing:
        raise RuleSyntaxError(
            path, line, f"{_names(missing)} must be bound by a positive atom, BIND or AGGREGATE"
        )


def _names(names: set[str]) -> str:
    return ", ".join(f"?{n}" for n in sorted(names))


def check_rule(rule: Rule) -> None:
    """Reject unsafe rules (head or expression variables that nothing in the body binds)."""
    head_vars: set[str] = set()
    for atom in rule.head:
        head_vars |= atom.vars()
    if not rule.body and head_vars:
        raise RuleSyntaxError(rule.path, rule.line, f"a fact cannot contain variables ({_names(head_vars)})")
    _check_body(rule.body, head_vars, rule.path, rule.line, set())


# ---- entry points ------------------------------------------------------------------------------------------


def parse_rules(
    text: str, path: str = "<rules>", prefixes: dict[str, str] | None = None, base: str | None = None
) -> Program:
    """Parse rule-file text; prefixes declared earlier (e.g. by the shell's ``prefix`` command) apply."""
    return _Parser(text, path, prefixes, base).document()


def parse_rule_file(
    path: str | Path,
    prefixes: dict[str, str] | None = None,
    display_path: str | None = None,
    base: str | None = None,
) -> Program:
    display = display_path or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReasonerError(f"{display}: cannot read rule file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise RuleSyntaxError(display, text_line(exc), "not UTF-8 text") from exc
    return parse_rules(text, display, prefixes, base)


def text_line(exc: UnicodeDecodeError) -> int:
    """The 1-based line of a decoding error's first bad byte."""
    return exc.object[: exc.start].count(b"\n") + 1
