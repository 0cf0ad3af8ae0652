"""`rdfox-pipeline sample generate OUT_DIR`: deterministic sample transactions as N-Triples.

The generator lives in ``rdfox_local.samplegen`` (local tooling, not part of the DAG package); it is imported
only when the verb runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from rdfox_pipeline.cli.main import CliError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("sample", help="generate sample transaction data")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    generate = verbs.add_parser(
        "generate",
        help="write part-NNNN.nt files of parties, addresses and transactions (same seed, same bytes)",
    )
    generate.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="directory to write the files into")
    generate.add_argument(
        "--transactions", type=int, default=1000, help="number of transactions (default 1000)"
    )
    generate.add_argument(
        "--parties", type=int, default=None, help="number of parties (default: transactions/10)"
    )
    generate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    generate.add_argument("--suspicious-share", type=float, default=0.02, help="share of suspicious parties")
    generate.add_argument("--high-risk-share", type=float, default=0.05, help="share of high-risk parties")
    generate.add_argument("--files", type=int, default=1, help="number of files to spread the triples over")
    generate.add_argument(
        "--end-date", type=_date, default=dt.date(2021, 6, 21), help="last day of the range"
    )
    generate.add_argument(
        "--days", type=int, default=5, help="transactions fall in this many days before END_DATE"
    )
    generate.set_defaults(handler=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    from rdfox_local.samplegen import SampleOptions, write_sample

    options = SampleOptions(
        transactions=args.transactions,
        parties=args.parties,
        suspicious_share=args.suspicious_share,
        high_risk_share=args.high_risk_share,
        end_date=args.end_date,
        max_days_before=args.days,
        files=args.files,
        seed=args.seed,
    )
    try:
        options.validate()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise CliError(f"{args.out_dir}: exists and is not a directory")
    try:
        paths = write_sample(args.out_dir, options)
    except OSError as exc:
        raise CliError(f"cannot write to {args.out_dir}: {exc.strerror or exc}") from None
    for path in paths:
        print(path)
    return 0
