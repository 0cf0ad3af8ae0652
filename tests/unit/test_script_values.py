"""Issue 18 item 8: every value interpolated into the RDFox shell script is checked as strictly as paths.

What reaches the script (``pod/script.py``): prefix names and IRIs (RDFOX_PREFIXES, a jobspec's
``rdfox.prefixes``), file keys (rules, data, queries, count queries) and the three directories. A hostile
value must be refused, never written: one extra line in the script is one extra RDFox shell command.
"""

from __future__ import annotations

import pytest
from rdfox_pipeline.domain.jobspec import JobSpecError, parse_jobspec
from rdfox_pipeline.domain.prefixes import parse_prefixes
from rdfox_pipeline.pod.script import generate_endpoint_script, generate_rdfox_script

HOSTILE_TEXT = [
    "\n",
    "\r",
    "\u2028",  # a line separator to some readers
    "\x85",  # NEL
    '"',
    ">",
    "<",
    " ",
    "\t",
    "$",
    "\\",
    "\x00",
    "\u202e",  # right-to-left override
]


def _script(**kwargs: object) -> str:
    args: dict[str, object] = {"rule_files": [], "data_files": ["d.nt"], "query_files": [], **kwargs}
    return generate_rdfox_script(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", HOSTILE_TEXT, ids=repr)
def test_hostile_prefix_iri_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not allowed in an IRI"):
        _script(prefixes={"ex": f"http://example.org/{bad}quit"})


@pytest.mark.parametrize("bad", HOSTILE_TEXT, ids=repr)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_hostile_prefix_name_is_refused(bad: str, where: str) -> None:
    name = {"start": f"{bad}ex", "middle": f"e{bad}x", "end": f"ex{bad}"}[where]
    with pytest.raises(ValueError, match="not a valid prefix name"):
        _script(prefixes={name: "http://example.org/"})


def test_a_trailing_newline_in_a_prefix_name_does_not_add_a_command() -> None:
    """The one that got through: ``$`` in a Python regex also matches before a final newline."""
    for name in ("ex\n", "ex:\n"):
        with pytest.raises(ValueError):
            _script(prefixes={name: "http://example.org/"})
    with pytest.raises(ValueError):
        parse_prefixes({"ex\n": "http://example.org/"})
    with pytest.raises(JobSpecError) as info:
        parse_jobspec({"dataset": "D", "rdfox": {"prefixes": {"ex\n": "http://example.org/"}}})
    assert info.value.path == "rdfox.prefixes"


def test_every_prefix_line_is_one_well_formed_command() -> None:
    lines = _script(prefixes={"": "http://e/#", "ex": "http://example.org/x'y#"}).splitlines()
    prefix_lines = [line for line in lines if line.startswith("prefix ")]
    assert prefix_lines == ["prefix : <http://e/#>", "prefix ex: <http://example.org/x'y#>"]


@pytest.mark.parametrize("bad", ["\n", "\r", "\u2028", "\x85", '"', "$", "\\", "\x00"], ids=repr)
@pytest.mark.parametrize("field", ["rule_files", "data_files", "query_files", "count_query_files"])
def test_hostile_file_names_are_refused(bad: str, field: str) -> None:
    files = {"rule_files": [], "data_files": ["d.nt"], "query_files": [], "count_query_files": []}
    files[field] = [*files[field], f"x{bad}y.rq"]
    with pytest.raises(ValueError, match="must not contain"):
        generate_rdfox_script(**files)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["\n", '"', "$", "\x00"], ids=repr)
@pytest.mark.parametrize("field", ["data_dir", "output_dir", "scripts_dir"])
def test_hostile_directories_are_refused(bad: str, field: str) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        _script(**{field: f"/d{bad}x"})


@pytest.mark.parametrize("bad", ["\n", '"', "$"], ids=repr)
def test_hostile_endpoint_data_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        generate_endpoint_script(data_files=[f"a{bad}.nt"])
