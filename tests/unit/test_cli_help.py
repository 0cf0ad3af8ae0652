"""The CLI's help is written for its users: what the tool does, and a working example for every verb."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from rdfox_pipeline.cli.help_text import EXAMPLES, iter_verbs
from rdfox_pipeline.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[2]
VERBS = [path for path, _ in iter_verbs(build_parser())]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_describes_the_tool(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)
    assert "register(subparsers)" not in text and "console script" not in text
    assert "RDFox" in text and "Neptune" in text and "jobspec" in text
    assert "rdfox-pipeline local up --airflow" in text
    for group in {verb.split(" ")[0] for verb in VERBS}:
        assert f"\n    {group} " in text, group  # every command listed with its one-line help


def test_every_verb_has_an_example_table_entry() -> None:
    assert len(VERBS) > 20
    assert sorted(set(VERBS) - set(EXAMPLES)) == []
    assert sorted(set(EXAMPLES) - set(VERBS)) == []  # no example for a verb that is gone


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_help_shows_examples_that_parse(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, *verb.split(" "))
    epilog = text[text.index("\nexample") :]
    commands = [line.strip() for line in epilog.splitlines() if line.strip().startswith("rdfox-pipeline ")]
    assert len(commands) == len(EXAMPLES[verb]), epilog
    for command in commands:
        argv = shlex.split(command)[1:]
        assert " ".join(argv[: len(verb.split(" "))]) == verb, command
        args = build_parser().parse_args(argv)  # SystemExit (a failed test) if the example does not parse
        assert callable(args.handler)
        for word in argv:
            if word.startswith("include/"):
                assert (REPO / word).exists(), f"{command}: {word} is not in the repository"


def test_a_group_help_shows_an_example_per_verb(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "neptune")
    for verb in ("load", "status", "list", "cancel"):
        assert f"rdfox-pipeline neptune {verb} " in text
