"""`rdfox-pipeline neptune load S3_PREFIX | status LOAD_ID | list | cancel LOAD_ID`: the bulk loader by hand.

The operators' tools (the old system had scripts for an ad-hoc bulk load and for checking loads). Same
code and configuration as the pipeline's tasks: ``NeptuneLoaderHook`` with the Airflow connection
``neptune_default`` (``--conn-id``; SigV4 when its extra says ``iam_auth``; read from ``AIRFLOW_CONN_*`` or a
configured secrets backend), the endpoint resolved as the tasks resolve it (the connection's host, else
NEPTUNE_CLUSTER_ENDPOINT or ``--endpoint``; both naming different endpoints is an error), and the loader
defaults from the settings as the tasks read them (SSM ``/parameter/pipeline_control/``, then the
environment). Human output by default, ``--json`` for scripts. Expected failures (the loader's error code and
message, bad input, an unreachable endpoint) are one line on stderr and exit status 2; a load that ``--wait``
sees end other than LOAD_COMPLETED exits 1.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from typing import Any

from rdfox_pipeline.cli.main import CliError
from rdfox_pipeline.domain import validators as v
from rdfox_pipeline.domain.statuses import NEPTUNE_ACTIVE_LOAD_STATUSES, NEPTUNE_TERMINAL_OK

CONN_ID = "neptune_default"


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("neptune", help="start, check, list and cancel Neptune bulk loads")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, help=help_text)
        parser.add_argument("--conn-id", default=CONN_ID, help=f"Airflow connection (default {CONN_ID})")
        parser.add_argument(
            "--endpoint",
            help="Neptune endpoint, host[:port] or https://host:port (default: NEPTUNE_CLUSTER_ENDPOINT)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        parser.add_argument(
            "-v", "--verbose", action="store_true", help="show the log (endpoint source, retries) on stderr"
        )
        return parser

    load = add("load", "start a bulk load of an S3 prefix; prints its load id")
    load.add_argument("source", metavar="S3_PREFIX", help="s3://bucket/prefix/ to load")
    load.add_argument("--format", help="loader format (default: NEPTUNE_SOURCE_FORMAT)")
    load.add_argument("--role-arn", help="IAM role Neptune reads S3 with (default: NEPTUNE_IAM_ROLE_ARN)")
    load.add_argument("--region", help="the cluster's region (default: AWS_DEFAULT_REGION)")
    load.add_argument(
        "--parallelism", help="LOW, MEDIUM, HIGH or OVERSUBSCRIBE (default: NEPTUNE_PARALLELISM)"
    )
    load.add_argument("--mode", help="RESUME, NEW or AUTO (default: NEPTUNE_LOAD_MODE)")
    for flag, setting in (
        ("fail-on-error", "NEPTUNE_FAIL_ON_ERROR"),
        ("queue-request", "NEPTUNE_QUEUE_REQUEST"),
        ("update-single-cardinality", "NEPTUNE_UPDATE_SINGLE_CARDINALITY_PROPERTIES"),
    ):
        load.add_argument(
            f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=f"(default: {setting})"
        )
    load.add_argument(
        "--wait", action="store_true", help="poll until the load ends (every NEPTUNE_LOAD_POLL_SECONDS)"
    )
    load.set_defaults(handler=load_command)

    status = add("status", "a load's overall status, counts and errors")
    status.add_argument("load_id", metavar="LOAD_ID")
    status.add_argument(
        "--errors",
        type=_errors_per_page,
        default=10,
        metavar="N",
        help="show up to N errors (1-100, default 10)",
    )
    status.set_defaults(handler=status_command)

    listing = add("list", "the most recent loads (queued ones first) with their status")
    listing.add_argument(
        "--limit", type=_limit, default=20, metavar="N", help="at most N loads (1-100, default 20)"
    )
    listing.set_defaults(handler=list_command)

    cancel = add("cancel", "cancel a queued or running load")
    cancel.add_argument("load_id", metavar="LOAD_ID")
    cancel.set_defaults(handler=cancel_command)


def _bounded(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
    return value


def _errors_per_page(text: str) -> int:
    return _bounded(text, 1, 100)


def _limit(text: str) -> int:
    return _bounded(text, 1, 100)


# -- configuration ------------------------------------------------------------------------------------------
def _settings() -> Any:
    from rdfox_pipeline.aws.settings_loader import SettingsLoadError, load_settings
    from rdfox_pipeline.domain.settings import SettingsError

    try:
        return load_settings()
    except (SettingsLoadError, SettingsError) as exc:
        raise CliError(f"settings: {exc}") from None


def _hook(args: argparse.Namespace, settings: Any) -> Any:
    from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook

    if args.endpoint:
        return NeptuneLoaderHook(args.conn_id, cluster_endpoint=args.endpoint, endpoint_origin="--endpoint")
    return NeptuneLoaderHook(args.conn_id, cluster_endpoint=settings.neptune_cluster_endpoint)


def _endpoint(hook: Any) -> str:
    """Resolve (and check) the endpoint before any request: a bad configuration is one line."""
    with _loader_errors("the Neptune endpoint"):
        return str(hook.endpoint.base_url)


@contextmanager
def _loader_errors(endpoint: str) -> Iterator[None]:
    """What Neptune, the network or the configuration refuses, as one CLI error line (never a traceback)."""
    import requests
    from botocore.exceptions import BotoCoreError, ClientError

    from rdfox_pipeline.compat import AirflowException
    from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderError

    try:
        yield
    except NeptuneLoaderError as exc:  # the loader's own code and detailedMessage (the hook bounds them)
        raise CliError(" ".join(str(exc).split())) from None
    except requests.RequestException as exc:
        raise CliError(
            f"cannot reach Neptune at {endpoint}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    except (BotoCoreError, ClientError) as exc:  # SigV4 credentials
        raise CliError(f"AWS credentials for signing: {_first_line(exc)}") from None
    except AirflowException as exc:  # the connection or the endpoint setting
        raise CliError(_first_line(exc)) from None


# One line on stderr, however long the exception's text is (a URL, a proxy's error page...).
MAX_ERROR_LINE = 500


def _first_line(exc: BaseException) -> str:
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return line if len(line) <= MAX_ERROR_LINE else line[:MAX_ERROR_LINE] + "..."


def _choice(value: str | None, default: str, choices: tuple[str, ...], option: str) -> str:
    if value is None:
        return default
    try:
        return v.check_choice(value, choices)
    except ValueError as exc:
        raise CliError(f"{option}: {exc}") from None


def _s3_prefix(text: str) -> str:
    if not text.startswith("s3://"):
        raise CliError(f"S3_PREFIX: {text!r} is not an S3 URI (s3://bucket/prefix/)")
    bucket = text[len("s3://") :].split("/", 1)[0]
    try:
        v.check_bucket(bucket)
    except ValueError as exc:
        raise CliError(f"S3_PREFIX: {text!r}: bucket {exc}") from None
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise CliError(f"S3_PREFIX: {text!r} must not contain spaces or control characters")
    return text


def load_parameters(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    """POST /loader's body from the options, the settings filling in what they leave out; checked first."""
    source = _s3_prefix(args.source)
    role = args.role_arn or settings.neptune_iam_role_arn
    if not role:
        raise CliError("no IAM role for Neptune to read S3 with: give --role-arn or set NEPTUNE_IAM_ROLE_ARN")
    try:
        v.check_role_arns(role)
    except ValueError as exc:
        raise CliError(f"--role-arn: {exc}") from None
    region = args.region or settings.aws_default_region
    if not region:
        raise CliError("no region: give --region or set AWS_DEFAULT_REGION")

    def flag(value: bool | None, default: bool) -> str:
        return "TRUE" if (default if value is None else value) else "FALSE"

    params: dict[str, Any] = {
        "source": source,
        "format": _choice(args.format, settings.neptune_source_format, v.NEPTUNE_FORMATS, "--format"),
        "iamRoleArn": role,
        "region": region,
        "mode": _choice(args.mode, settings.neptune_load_mode, v.NEPTUNE_MODES, "--mode"),
        "failOnError": flag(args.fail_on_error, settings.neptune_fail_on_error),
        "parallelism": _choice(
            args.parallelism, settings.neptune_parallelism, v.NEPTUNE_PARALLELISMS, "--parallelism"
        ),
        "updateSingleCardinalityProperties": flag(
            args.update_single_cardinality, settings.neptune_update_single_cardinality_properties
        ),
        "queueRequest": flag(args.queue_request, settings.neptune_queue_request),
    }
    if settings.neptune_parser_configuration:
        params["parserConfiguration"] = dict(settings.neptune_parser_configuration)
    return params


# -- output -------------------------------------------------------------------------------------------------
def _print_json(value: Any, out: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str), file=out)


def _results_on_stdout(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Airflow's logging prints the hook's log lines (which endpoint, retries) to stdout. Here stdout carries
    only results (``args.out``), so that ``$(rdfox-pipeline neptune load ...)`` is the load id, and stderr
    only errors and progress; the log goes to stderr with ``--verbose``, else nowhere."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        args.out = sys.stdout
        with redirect_stdout(sys.stderr if args.verbose else io.StringIO()):
            return command(args)

    return run


def status_lines(load_id: str, payload: Mapping[str, Any]) -> list[str]:
    """A load's status for people: overall status, counts, feeds, failed feeds and the errors shown."""
    overall = payload.get("overallStatus") or {}
    lines = [
        f"load {load_id}: {overall.get('status', 'unknown')}",
        f"  source:   {overall.get('fullUri', '?')}",
        f"  records:  {overall.get('totalRecords', 0)} ({overall.get('totalDuplicates', 0)} duplicates) in "
        f"{overall.get('totalTimeSpent', 0)} s",
        f"  errors:   {overall.get('parsingErrors', 0)} parsing, {overall.get('datatypeMismatchErrors', 0)} "
        f"datatype mismatch, {overall.get('insertErrors', 0)} insert",
    ]
    feeds = [f"{status} {count}" for item in payload.get("feedCount") or [] for status, count in item.items()]
    if feeds:
        lines.append(f"  feeds:    {', '.join(feeds)}")
    lines += [
        f"  failed feed: {feed.get('fullUri')}: {feed.get('status')}"
        for feed in payload.get("failedFeeds") or []
    ]
    errors = (payload.get("errors") or {}).get("errorLogs") or []
    for e in errors:
        where = f"{e.get('fileName')} record {e.get('recordNum')}"
        lines.append(f"  error: {e.get('errorCode')}: {e.get('errorMessage')} ({where})")
    return lines


# -- verbs --------------------------------------------------------------------------------------------------
@_results_on_stdout
def load_command(args: argparse.Namespace) -> int:
    settings = _settings()
    params = load_parameters(args, settings)  # all input checked before anything is sent
    hook = _hook(args, settings)
    endpoint = _endpoint(hook)
    with _loader_errors(endpoint):
        load_id = hook.start_load(**params)
    if not args.wait:
        if args.json:
            _print_json({"loadId": load_id, "endpoint": endpoint}, args.out)
        else:
            print(load_id, file=args.out)
        return 0
    if not args.json:
        print(load_id, file=args.out, flush=True)  # at once: the id is what cancelling it needs
    timeout = settings.neptune_load_timeout_hours * 3600
    payload = _wait(hook, endpoint, load_id, settings.neptune_load_poll_seconds, timeout)
    status = (payload.get("overallStatus") or {}).get("status")
    if args.json:
        _print_json({"loadId": load_id, "endpoint": endpoint, "status": payload}, args.out)
    else:
        print("\n".join(status_lines(load_id, payload)), file=args.out)
    return 0 if status == NEPTUNE_TERMINAL_OK else 1


def _wait(hook: Any, endpoint: str, load_id: str, poll_seconds: float, timeout: float) -> dict[str, Any]:
    """Poll until the load is no longer queued or running; progress on stderr. Returns the final status."""
    from rdfox_pipeline.triggers.neptune_load_status import progress_line

    started = time.monotonic()
    while True:
        with _loader_errors(endpoint):
            payload = hook.get_load_status(load_id, details=True)
        overall = payload.get("overallStatus") or {}
        if overall.get("status") and overall["status"] not in NEPTUNE_ACTIVE_LOAD_STATUSES:
            with _loader_errors(endpoint):  # the final answer with its errors, as `status` shows it
                return hook.get_load_status(load_id, details=True, errors=True, errors_per_page=10)
        waited = time.monotonic() - started
        print(progress_line(load_id, overall, waited), file=sys.stderr, flush=True)
        if waited >= timeout:
            raise CliError(
                f"load {load_id} is still {overall.get('status')} after {waited:.0f} s "
                f"(NEPTUNE_LOAD_TIMEOUT_HOURS); it goes on: 'rdfox-pipeline neptune cancel {load_id}' ends it"
            )
        time.sleep(poll_seconds)


@_results_on_stdout
def status_command(args: argparse.Namespace) -> int:
    hook = _hook(args, _settings())
    with _loader_errors(_endpoint(hook)):
        payload = hook.get_load_status(args.load_id, details=True, errors=True, errors_per_page=args.errors)
    if args.json:
        _print_json(payload, args.out)
    else:
        print("\n".join(status_lines(args.load_id, payload)), file=args.out)
    return 0


@_results_on_stdout
def list_command(args: argparse.Namespace) -> int:
    from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderError

    hook = _hook(args, _settings())
    rows: list[dict[str, Any]] = []
    with _loader_errors(_endpoint(hook)):
        for load_id in hook.list_loads(limit=args.limit):
            try:
                overall = hook.get_load_status(load_id, details=False).get("overallStatus") or {}
            except NeptuneLoaderError as exc:
                if exc.status_code != 404:
                    raise
                overall = {}  # forgotten meanwhile (Neptune keeps only the last 1,024 loads)
            rows.append({"loadId": load_id, "overallStatus": overall})
    if args.json:
        _print_json(rows, args.out)
        return 0
    table = [("LOAD ID", "STATUS", "RECORDS", "SOURCE")] + [
        (
            row["loadId"],
            str(row["overallStatus"].get("status", "?")),
            str(row["overallStatus"].get("totalRecords", "?")),
            str(row["overallStatus"].get("fullUri", "?")),
        )
        for row in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(line.rstrip(), file=args.out)
    return 0


@_results_on_stdout
def cancel_command(args: argparse.Namespace) -> int:
    hook = _hook(args, _settings())
    with _loader_errors(_endpoint(hook)):
        hook.cancel_load(args.load_id)
        status = (hook.get_load_status(args.load_id, details=False).get("overallStatus") or {}).get("status")
    if args.json:
        _print_json({"loadId": args.load_id, "status": status}, args.out)
    else:
        print(f"cancelled {args.load_id}: {status}", file=args.out)
    return 0
