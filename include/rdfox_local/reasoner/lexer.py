"""Tokens of RDFox's Datalog syntax, each with its line and column (for ``file:line`` errors)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import RuleSyntaxError


@dataclass(frozen=True)
class Token:
    kind: str  # IRI PNAME VAR STRING NUMBER LANGTAG BNODE NAME PUNCT EOF
    text: str
    line: int
    col: int


_PN_CHARS_BASE = (
    r"A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F"
    r"\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD"
)
_PN_PREFIX = rf"(?:[{_PN_CHARS_BASE}](?:[{_PN_CHARS_BASE}0-9_.\-]*[{_PN_CHARS_BASE}0-9_\-])?)?"
_PN_LOCAL_CHAR = rf"(?:[{_PN_CHARS_BASE}0-9_\-:]|%[0-9A-Fa-f]{{2}}|\\[_~.\-!$&'()*+,;=/?#@%])"
_PN_LOCAL = (
    rf"(?:(?:[{_PN_CHARS_BASE}0-9_:]|%[0-9A-Fa-f]{{2}}|\\[_~.\-!$&'()*+,;=/?#@%])"
    rf"(?:(?:{_PN_LOCAL_CHAR}|\.)*{_PN_LOCAL_CHAR})?)?"
)

_TOKEN_RES: list[tuple[str, re.Pattern[str]]] = [
    ("IRI", re.compile(r'<[^<>"{}|^`\\\x00-\x20]*>')),
    ("STRING", re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""' r"|'''(?:[^'\\]|\\.|'(?!''))*'''", re.S)),
    ("STRING", re.compile(r'"(?:[^"\\\n\r]|\\.)*"' r"|'(?:[^'\\\n\r]|\\.)*'")),
    ("VAR", re.compile(rf"[?$][{_PN_CHARS_BASE}0-9_][{_PN_CHARS_BASE}0-9_\u00B7]*")),
    (
        "BNODE",
        re.compile(rf"_:[{_PN_CHARS_BASE}0-9_](?:[{_PN_CHARS_BASE}0-9_.\-]*[{_PN_CHARS_BASE}0-9_\-])?"),
    ),
    ("PUNCT", re.compile(r":-|\^\^|<=|>=|!=|&&|\|\|")),
    ("PNAME", re.compile(rf"{_PN_PREFIX}:{_PN_LOCAL}")),
    ("NUMBER", re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")),
    ("LANGTAG", re.compile(r"@[A-Za-z]+(?:-[A-Za-z0-9]+)*")),
    ("NAME", re.compile(rf"[{_PN_CHARS_BASE}_][{_PN_CHARS_BASE}0-9_\-]*")),
    ("PUNCT", re.compile(r"[\[\](),.;=<>+\-*/!]")),
]
_SPACE_RE = re.compile(r"[ \t\r\n\f]+")


def tokenize(text: str, path: str) -> list[Token]:
    """All tokens of a rule file; ``#`` and ``%`` start a comment that runs to the end of the line."""
    tokens: list[Token] = []
    pos, line, line_start, end = 0, 1, 0, len(text)
    while pos < end:
        space = _SPACE_RE.match(text, pos)
        if space:
            chunk = space.group()
            newlines = chunk.count("\n")
            if newlines:
                line += newlines
                line_start = pos + chunk.rfind("\n") + 1
            pos = space.end()
            continue
        if text[pos] in "#%":
            nl = text.find("\n", pos)
            pos = end if nl < 0 else nl
            continue
        col = pos - line_start + 1
        for kind, regex in _TOKEN_RES:
            match = regex.match(text, pos)
            if match:
                value = match.group()
                # "1." at the end of a rule is the number 1 then the final dot.
                if kind == "NUMBER" and value.endswith(".") and not value[:-1].count("."):
                    value = value[:-1]
                # A PNAME must not swallow the rule's final '.'
                if kind == "PNAME":
                    value = value.rstrip(".") if not value.endswith("\\.") else value
                tokens.append(Token(kind, value, line, col))
                newlines = value.count("\n")
                if newlines:
                    line += newlines
                    line_start = pos + value.rfind("\n") + 1
                pos += len(value)
                break
        else:
            raise RuleSyntaxError(path, line, f"unexpected character {text[pos]!r}", col)
    tokens.append(Token("EOF", "", line, pos - line_start + 1))
    return tokens
