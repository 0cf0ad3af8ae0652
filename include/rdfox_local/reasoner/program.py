"""The program model: rules, body literals and expressions as the parser builds them.

Terms in atoms are either a ``Var`` or a constant term string (see ``terms``). Every rule and body
literal keeps its file and line so that later errors (safety, stratification) can point at the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .terms import RDF_TYPE


@dataclass(frozen=True)
class Var:
    name: str

    def __str__(self) -> str:
        return f"?{self.name}"


Term = Var | str


# ---- expressions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    term: str


@dataclass(frozen=True)
class Call:
    """A builtin function (upper-case name) or a cast/function named by IRI (``<...>`` form)."""

    name: str
    args: tuple[Expr, ...]
    line: int
    distinct: bool = False
    base: str | None = None  # IRI()/URI(): the rule file's base at the call, for relative results


@dataclass(frozen=True)
class BinOp:
    op: str  # || && = != < <= > >= + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class UnOp:
    op: str  # ! - +
    arg: Expr


@dataclass(frozen=True)
class InList:
    arg: Expr
    items: tuple[Expr, ...]
    negated: bool


Expr = Var | Const | Call | BinOp | UnOp | InList


def expr_vars(expr: Expr) -> set[str]:
    """The variables an expression reads."""
    if isinstance(expr, Var):
        return {expr.name}
    if isinstance(expr, Const):
        return set()
    if isinstance(expr, Call):
        return set().union(*(expr_vars(a) for a in expr.args)) if expr.args else set()
    if isinstance(expr, BinOp):
        return expr_vars(expr.left) | expr_vars(expr.right)
    if isinstance(expr, UnOp):
        return expr_vars(expr.arg)
    return expr_vars(expr.arg).union(*(expr_vars(i) for i in expr.items))


# ---- body literals ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """A triple pattern ``[s, p, o]`` (``p[s, o]`` and ``C[s]`` are sugar for it)."""

    s: Term
    p: Term
    o: Term
    line: int

    @property
    def terms(self) -> tuple[Term, Term, Term]:
        return (self.s, self.p, self.o)

    def vars(self) -> set[str]:
        return {t.name for t in self.terms if isinstance(t, Var)}

    def key(self) -> tuple[str | None, str | None]:
        """What facts it can touch: (predicate, class) with None for 'any' (used by stratification)."""
        p = self.p if isinstance(self.p, str) else None
        cls = self.o if p == RDF_TYPE and isinstance(self.o, str) else None
        return (p, cls)


@dataclass(frozen=True)
class Filter:
    expr: Expr
    line: int


@dataclass(frozen=True)
class Bind:
    expr: Expr
    var: str
    line: int


@dataclass(frozen=True)
class Negation:
    """``NOT B``, ``NOT(B1, ...)`` or ``NOT EXISTS ?v... IN (B1, ...)``: true when the body has no match."""

    body: tuple[BodyLiteral, ...]
    exists_vars: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class AggregateBind:
    function: str  # COUNT SUM MIN MAX AVG MUL
    distinct: bool
    arg: Expr | None  # None = COUNT(*)
    var: str


@dataclass(frozen=True)
class Aggregate:
    """``AGGREGATE(B1, ... ON ?g... BIND f(e) AS ?v ...)``: only the group and result variables escape."""

    body: tuple[BodyLiteral, ...]
    group_vars: tuple[str, ...]
    binds: tuple[AggregateBind, ...]
    line: int

    def output_vars(self) -> set[str]:
        return set(self.group_vars) | {b.var for b in self.binds}


BodyLiteral = Atom | Filter | Bind | Negation | Aggregate


def body_atoms(body: tuple[BodyLiteral, ...], *, negative: bool = False) -> list[tuple[Atom, bool]]:
    """Every atom in a body, with whether it is read under NOT/AGGREGATE (a stratification boundary)."""
    out: list[tuple[Atom, bool]] = []
    for lit in body:
        if isinstance(lit, Atom):
            out.append((lit, negative))
        elif isinstance(lit, (Negation, Aggregate)):
            out.extend(body_atoms(lit.body, negative=True))
    return out


@dataclass(frozen=True)
class Rule:
    head: tuple[Atom, ...]
    body: tuple[BodyLiteral, ...]
    path: str
    line: int
    text: str = ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def is_fact(self) -> bool:
        return not self.body


@dataclass
class Program:
    rules: list[Rule] = field(default_factory=list)
    prefixes: dict[str, str] = field(default_factory=dict)

    def extend(self, other: Program) -> None:
        self.rules.extend(other.rules)
        self.prefixes.update(other.prefixes)
