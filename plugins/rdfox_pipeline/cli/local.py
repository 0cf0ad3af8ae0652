"""`rdfox-pipeline local up|down|status|demo`: the embedded local stack (see docs/local-stack.md).

The stack itself lives in ``rdfox_local.stack`` (outside Airflow); this module only parses arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rdfox_pipeline.cli.main import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser(
        "local", help="everything on this machine: AWS, Neptune and Kubernetes stand-ins, Airflow and its UI"
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

    up = add("up", "start the stack (idempotent) and write <state-dir>/airflow.env; --airflow: and the UI")
    up.add_argument(
        "--airflow",
        action="store_true",
        help="also start Airflow (api-server, scheduler, dag-processor, triggerer) and print the UI's URL",
    )
    up.add_argument(
        "--airflow-port", type=int, metavar="PORT", help="with --airflow: the UI's port (default: a free one)"
    )
    up.add_argument(
        "--no-auth",
        action="store_true",
        help="with --airflow: no login, everyone is an admin (default: user admin, generated password)",
    )
    up.set_defaults(handler=up_command)
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

    if not args.airflow and (args.airflow_port is not None or args.no_auth):
        raise CliError("--airflow-port and --no-auth need --airflow")
    if args.airflow_port is not None and not 1024 <= args.airflow_port <= 65535:
        raise CliError(f"--airflow-port must be between 1024 and 65535, got {args.airflow_port}")
    try:
        stack = LocalStack(args.state_dir)
        if args.airflow:
            from rdfox_local.stack.airflow_services import DAG_ID, check_airflow_port, start_airflow

            check_airflow_port(stack, args.airflow_port)  # before anything starts
        stack.up()
        if args.airflow:
            services = start_airflow(stack, port=args.airflow_port, auth=not args.no_auth)
    except (StackError, TimeoutError, RuntimeError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(f"environment for Airflow: set -a; . {stack.env_file}; set +a")
    if args.airflow:
        print(f"Airflow UI: {services.api_url}/dags/{DAG_ID}")
        if services.auth:
            print(f"  log in as admin; the password is in {services.password_file} (readable by you only)")
        else:
            print("  no login: everyone is an admin (--no-auth)")
        print(f"  stop everything: rdfox-pipeline local down --state-dir {args.state_dir}")
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
    from rdfox_local.stack.airflow_services import AirflowServices
    from rdfox_local.stack.stack import LocalStack, StackError

    try:
        stack = LocalStack(args.state_dir)
        status = stack.status()
        services = AirflowServices.attach(stack)
    except StackError as exc:
        raise CliError(str(exc)) from None
    status["airflow"] = services.status() if services else None
    print(json.dumps(status, indent=2))
    if services and status["airflow"]["dag_paused"]:
        print(
            f"note: the DAG {status['airflow']['dag_id']} is paused: uploads and triggered runs wait and "
            f"none runs; unpause it in the UI ({services.api_url})",
            file=sys.stderr,
        )
    airflow_down = services is not None and not status["airflow"]["up"]
    return 0 if status["up"] and not airflow_down else 1


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
