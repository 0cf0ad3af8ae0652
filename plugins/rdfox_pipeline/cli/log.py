"""`rdfox-pipeline log parse FILE`: print an rdfox.log's InferenceStats as JSON, or why it failed."""

from __future__ import annotations

import argparse
import json

from rdfox_pipeline.cli._files import read_bytes
from rdfox_pipeline.cli.main import CliError
from rdfox_pipeline.domain.rdfox_log import RdfoxLogError, parse_rdfox_log


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("log", help="work with rdfox.log files")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    parse = verbs.add_parser("parse", help="parse an rdfox.log into inference statistics")
    parse.add_argument("file", metavar="FILE", help="the rdfox.log ('-' for stdin)")
    parse.set_defaults(handler=parse_command)


def parse_command(args: argparse.Namespace) -> int:
    raw = read_bytes(args.file)
    # RDFox writes UTF-8; a stray byte in a path it echoes must not hide the statistics.
    text = raw.decode("utf-8", errors="replace")
    try:
        stats = parse_rdfox_log(text)
    except RdfoxLogError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    print(json.dumps(stats.to_dict(), indent=2))
    return 0
