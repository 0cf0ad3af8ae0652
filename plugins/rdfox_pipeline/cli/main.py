"""The ``rdfox-pipeline`` console script: one module per verb group, each with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rdfox_pipeline.cli.help_text import describe

# Imported lazily so that ``rdfox-pipeline jobspec validate`` does not pay for Airflow or boto3.
VERB_GROUPS = (
    "jobspec", "log", "jobs", "pod", "reason", "sample", "local", "submit", "endpoint", "neptune", "settings",
)  # fmt: skip


class CliError(Exception):
    """A user-facing error: printed as one line on stderr, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rdfox-pipeline")
    subparsers = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for name in VERB_GROUPS:
        try:
            module = importlib.import_module(f"rdfox_pipeline.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"rdfox_pipeline.cli.{name}":
                raise
            continue  # verb group not built yet (development); see docs/ARCHITECTURE.md
        module.register(subparsers)
    describe(parser)  # the users' description and every verb's example (cli/help_text.py)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"rdfox-pipeline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Run as ``python -m``: use the package's module, so that the CliError the verbs raise (imported from
    # rdfox_pipeline.cli.main) is the class caught in main(), not a copy defined in __main__.
    from rdfox_pipeline.cli.main import main as package_main

    sys.exit(package_main())
