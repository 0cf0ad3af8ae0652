"""Notification subject templates (setting NOTIFICATION_SUBJECT_TEMPLATE): named fields only.

A template is ``str.format`` syntax restricted to a fixed set of plain field names: no positional fields,
no attribute access, no indexing, no conversions or format specs, so that a template set in SSM can only
place the given strings and never reach an object's internals (``{job_id.__class__}``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping

# What a template may name; the renderer supplies exactly these (single-line ASCII strings).
SUBJECT_FIELDS: tuple[str, ...] = ("job_id", "dataset", "status", "outcome")

# The old system's subject; its users' mail rules filter on it.
LEGACY_SUBJECT_TEMPLATE = "Inference Result Notification for ID - {job_id} - JobStatus.{status}"

_MAX_TEMPLATE_CHARS = 200


def _check_field(name: str, conversion: str | None, spec: str) -> None:
    allowed = ", ".join("{" + f + "}" for f in SUBJECT_FIELDS)
    if name == "" or name.isdigit():
        raise ValueError(f"positional field {{{name}}} is not allowed; use named fields: {allowed}")
    if "." in name or "[" in name:
        raise ValueError(
            f"field {{{name}}}: attribute access and indexing are not allowed; fields: {allowed}"
        )
    if name not in SUBJECT_FIELDS:
        raise ValueError(f"unknown field {{{name}}}; fields: {allowed}")
    if conversion is not None or spec:
        raise ValueError(f"field {{{name}}}: conversions and format specs (!r, :>10) are not allowed")


def parse_subject_template(value: str) -> str:
    """``value`` if it is a valid subject template, else ValueError saying what is wrong."""
    if len(value) > _MAX_TEMPLATE_CHARS:
        raise ValueError(f"must be at most {_MAX_TEMPLATE_CHARS} characters, got {len(value)}")
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:  # unbalanced braces
        raise ValueError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    for literal, name, spec, conversion in parts:
        if any(not " " <= ch <= "~" for ch in literal):
            raise ValueError("must be one line of printable ASCII (an SNS subject allows nothing else)")
        if name is not None:
            _check_field(name, conversion, spec or "")
    return value


def format_subject_template(template: str, values: Mapping[str, str]) -> str:
    """The template with each field replaced by ``values[field]`` (the template is checked again first)."""
    parse_subject_template(template)
    missing = sorted(set(SUBJECT_FIELDS) - set(values))
    if missing:
        raise ValueError(f"no value for field(s) {', '.join(missing)}")
    return template.format_map({name: str(values[name]) for name in SUBJECT_FIELDS})
