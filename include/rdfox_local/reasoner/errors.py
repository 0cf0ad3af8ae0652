"""Errors of the local reasoner; each names the file and line it is about."""

from __future__ import annotations


class ReasonerError(Exception):
    """Base class: a problem with the rules, data, queries or script given to the reasoner."""


class RuleSyntaxError(ReasonerError):
    """A rule file that cannot be parsed, or a construct the engine does not support."""

    def __init__(self, path: str, line: int, message: str, column: int | None = None) -> None:
        self.path, self.line, self.column, self.message = path, line, column, message
        where = f"{path}:{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {message}")


class StratificationError(ReasonerError):
    """Negation or aggregation through recursion: the program has no stratification."""


class EvaluationError(ReasonerError):
    """A failure while materialising (e.g. a rule derives a fact that is not RDF)."""


class ScriptError(ReasonerError):
    """A shell-script command that failed; ``str()`` starts with ``file:line:``."""
