"""`rdfox-pipeline jobs show JOB_ID` / `jobs list [--status STATUS] [--limit N]`: read the job table;
`jobs import-legacy --from-table NAME [--dry-run] [--json]`: copy the old system's job table into it.

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

    orphans = verbs.add_parser(
        "orphans",
        help="list CREATED jobs whose registration died (JSON lines); --mark-failed fails them",
    )
    orphans.add_argument("--dataset", help="only this dataset's jobs")
    orphans.add_argument(
        "--older-than-hours",
        type=_positive_int,
        default=None,
        help="CREATED and not written for this long (default 168, a week: beyond any wait for a pod slot)",
    )
    orphans.add_argument(
        "--mark-failed", action="store_true", help="mark each SCHEDULE_FAILED with the reason"
    )
    common(orphans)
    orphans.set_defaults(handler=orphans_command)

    legacy = verbs.add_parser(
        "import-legacy",
        help="copy the old system's job table (pk/sk, old field names) into the job table",
        description="Copy every job of the old job table into the job table, with today's field names. "
        "The old table is only read (DescribeTable, Scan). Idempotent: a record already present is "
        "counted identical or conflicting, never overwritten. Exit status 1 when an item was "
        "conflicting or skipped.",
    )
    legacy.add_argument("--from-table", required=True, metavar="NAME", help="the old job table")
    legacy.add_argument(
        "--source-delimiter", help="the old job ids' delimiter (default: the job table's delimiter)"
    )
    legacy.add_argument("--dry-run", action="store_true", help="read and compare only; write nothing")
    legacy.add_argument("--json", action="store_true", help="print the report as one JSON object")
    legacy.add_argument(
        "--page-size", type=_positive_int, default=100, help="items per Scan request (default 100)"
    )
    common(legacy)
    legacy.set_defaults(handler=import_legacy_command)


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


def orphans_command(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from rdfox_pipeline.aws.job_orphans import ORPHAN_AFTER, fail_orphans, iter_orphans

    table = _table(args)
    older_than = ORPHAN_AFTER if args.older_than_hours is None else timedelta(hours=args.older_than_hours)
    with _aws_errors(table):
        found = list(iter_orphans(table, dataset=args.dataset, older_than=older_than))
        for record in found:
            _print_json({k: record.get(k) for k in ("job_id", "dag_run_id", "created_at", "updated_at")})
        if args.mark_failed and found:
            found_by = "rdfox-pipeline jobs orphans --mark-failed"
            marked = fail_orphans(table, found_by, dataset=args.dataset, older_than=older_than)
            print(f"marked {len(marked)} SCHEDULE_FAILED", file=sys.stderr)
    sys.stdout.flush()
    return 0


def _print_report(report: Any) -> None:
    mode = " (dry run: nothing written)" if report.dry_run else ""
    print(f"{report.source_table} -> {report.target_table}{mode}")
    verb = "to import" if report.dry_run else "imported"
    print(
        f"read {report.read}, {verb} {report.imported}, already present {report.identical}, "
        f"conflicting {report.conflicting}, skipped {report.skipped}"
    )
    for conflict in report.conflicts:
        print(f"conflicting: {conflict['job_id']}: differs in {', '.join(conflict['differing_fields'])}")
    for skip in report.skips:
        print(f"skipped: pk={skip['pk']!r} sk={skip['sk']!r}: {skip['reason']}")


def import_legacy_command(args: argparse.Namespace) -> int:
    import boto3

    from rdfox_pipeline.aws.job_table import JobMetadataError
    from rdfox_pipeline.aws.legacy_import import LegacyImportError, import_legacy_table

    table = _table(args)
    with _aws_errors(table):
        try:
            report = import_legacy_table(
                boto3.client("dynamodb"),
                table,
                args.from_table,
                source_delimiter=args.source_delimiter,
                dry_run=args.dry_run,
                page_size=args.page_size,
            )
        except (LegacyImportError, JobMetadataError) as exc:
            raise CliError(str(exc)) from None
    if args.json:
        _print_json(report.to_dict())
    else:
        _print_report(report)
    return 0 if report.complete else 1
