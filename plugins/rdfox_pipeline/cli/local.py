"""`rdfox-pipeline local up|down|status|demo`: the embedded local stack (see docs/local-stack.md).

The stack itself lives in ``rdfox_local.stack`` (outside Airflow); this module only parses arguments.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rdfox_pipeline.cli.main import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser(
        "local", help="the embedded local stack: moto, the Neptune and Kubernetes emulators, Airflow settings"
    )
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, help=help_text)
        parser.add_argument(
            "--state-dir",
            type=Path,
            default=Path(".rdfox-local"),
            help="where pids, ports, logs and airflow.env are kept (default: ./.rdfox-local)",
        )
        return parser

    add("up", "start the stack (idempotent) and write <state-dir>/airflow.env").set_defaults(
        handler=up_command
    )
    down = add("down", "stop exactly the processes `up` started")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    down.set_defaults(handler=down_command)
    add("status", "what runs where, as JSON; exit 1 if the stack is not up").set_defaults(
        handler=status_command
    )
    demo = add("demo", "run one whole job through Airflow on the stack and print a summary")
    demo.add_argument("--transactions", type=int, default=2000, help="size of the generated dataset")
    demo.add_argument("--keep-up", action="store_true", help="leave the stack running afterwards")
    demo.add_argument(
        "--jobspec",
        type=Path,
        default=None,
        metavar="PATH",
        help="run this jobspec file (uploaded unchanged; its buckets must be the stack's) instead of the "
        "demo's own, e.g. include/samples/legacy-submitter.rdfoxjob.json",
    )
    demo.set_defaults(handler=demo_command)


def up_command(args: argparse.Namespace) -> int:
    from rdfox_local.stack.stack import LocalStack, StackError

    try:
        stack = LocalStack(args.state_dir)
        stack.up()
    except (StackError, TimeoutError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    print(f"environment for Airflow: set -a; . {stack.env_file}; set +a")
    return 0


def down_command(args: argparse.Namespace) -> int:
    from rdfox_local.stack.stack import LocalStack, StackError

    try:
        stopped = LocalStack(args.state_dir).down(purge=args.purge)
    except StackError as exc:
        raise CliError(str(exc)) from None
    if not stopped:
        print("local stack: nothing was running")
    return 0


def status_command(args: argparse.Namespace) -> int:
    from rdfox_local.stack.stack import LocalStack, StackError

    try:
        status = LocalStack(args.state_dir).status()
    except StackError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(status, indent=2))
    return 0 if status["up"] else 1


def demo_command(args: argparse.Namespace) -> int:
    from rdfox_local.stack.demo import run_demo
    from rdfox_local.stack.stack import StackError

    if not 1 <= args.transactions <= 1_000_000:
        raise CliError(f"--transactions must be between 1 and 1000000, got {args.transactions}")
    if args.jobspec is not None and not args.jobspec.is_file():
        raise CliError(f"--jobspec: {args.jobspec} is not a file")
    try:
        return run_demo(
            args.state_dir, transactions=args.transactions, keep_up=args.keep_up, jobspec_file=args.jobspec
        )
    except (StackError, TimeoutError) as exc:
        raise CliError(str(exc)) from None
