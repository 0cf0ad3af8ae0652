"""`rdfox-pipeline jobs show JOB_ID` / `jobs list [--status STATUS] [--limit N]`: read the job table.

Plain boto3 (``rdfox_pipeline.aws.job_table``), no Airflow: on a laptop it uses the usual AWS environment
(credentials, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL for a local stack). The table and the job id delimiter come
from ``--table``/``--delimiter`` or the settings (SSM, then environment: JOB_TABLE_NAME, JOB_ID_DELIMETER).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rdfox_pipeline.cli.main import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("jobs", help="show and list job records (DynamoDB)")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--table", help="job table (default: the JOB_TABLE_NAME setting)")
        parser.add_argument("--delimiter", help="job id delimiter (default: the JOB_ID_DELIMETER setting)")

    show = verbs.add_parser("show", help="print one job record as JSON")
    show.add_argument("job_id", metavar="JOB_ID", help="e.g. MYDATASET_2021-08-01_000")
    common(show)
    show.set_defaults(handler=show_command)

    listing = verbs.add_parser("list", help="print job records as JSON lines, newest update first by status")
    listing.add_argument("--status", help="only jobs in this status (uses the Job_Status_Index)")
    listing.add_argument("--limit", type=_positive_int, default=100, help="at most N records (default 100)")
    common(listing)
    listing.set_defaults(handler=list_command)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


@contextmanager
def _aws_errors(table: Any) -> Iterator[None]:
    """AWS and configuration failures as one CLI error line (never a traceback)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from rdfox_pipeline.aws.settings_loader import SettingsLoadError
    from rdfox_pipeline.domain.settings import SettingsError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ResourceNotFoundException":
            raise CliError(f"job table {table.table_name!r} does not exist") from None
        raise CliError(f"AWS error: {error.get('Code', 'unknown')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise CliError(f"AWS error: {exc}") from None
    except (SettingsLoadError, SettingsError) as exc:
        raise CliError(f"{exc} (pass --table and --delimiter to avoid reading the settings)") from None


def _table(args: argparse.Namespace) -> Any:
    import boto3

    from rdfox_pipeline.aws.job_table import JobTable

    return JobTable(boto3.client("dynamodb"), table_name=args.table, delimiter=args.delimiter)


def _print_json(record: Any, indent: int | None = None) -> None:
    print(json.dumps(record, indent=indent, sort_keys=True, ensure_ascii=False, default=str))


def show_command(args: argparse.Namespace) -> int:
    from rdfox_pipeline.aws.job_table import JobNotFound

    table = _table(args)
    with _aws_errors(table):
        try:
            table.parse_job_id(args.job_id)
            record = table.require_job(args.job_id)
        except JobNotFound as exc:
            raise CliError(str(exc)) from None
        except ValueError as exc:
            raise CliError(str(exc)) from None
    _print_json(record, indent=2)
    return 0


def list_command(args: argparse.Namespace) -> int:
    from rdfox_pipeline.domain.statuses import parse_job_status

    status = None
    if args.status is not None:
        try:
            status = parse_job_status(args.status)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    table = _table(args)
    page_size = min(args.limit, 100)
    shown = 0
    with _aws_errors(table):
        for record in table.iter_jobs(status, page_size=page_size):
            _print_json(record)
            shown += 1
            if shown >= args.limit:
                break
    sys.stdout.flush()
    return 0
