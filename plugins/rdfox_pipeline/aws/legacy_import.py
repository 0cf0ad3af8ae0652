"""Copy the old system's job table into today's (``rdfox-pipeline jobs import-legacy``).

The source is only read: ``DescribeTable`` (its key schema must be ``pk`` HASH + ``sk`` RANGE) and a paginated
``Scan``; nothing else is ever called on it. Each item is mapped by ``domain.legacy_record`` and written to
the job table with a conditional put (``JobTable.import_record``), so a second run changes nothing and an
existing record is never overwritten: it is counted identical or conflicting. Imported records keep their
``dataset``/``job_key``, so the id allocation (the day's highest ``job_key`` + 1) continues after them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from rdfox_pipeline.aws.job_table import JobTable
from rdfox_pipeline.domain.legacy_record import map_legacy_item

LEGACY_KEY_SCHEMA = {"pk": "HASH", "sk": "RANGE"}
MAX_LISTED = 100  # conflicts/skips listed one by one in the report; all are counted


class LegacyImportError(Exception):
    """The import cannot start (wrong source table); nothing was written."""


@dataclass
class ImportReport:
    source_table: str
    target_table: str
    dry_run: bool
    read: int = 0
    imported: int = 0
    identical: int = 0
    conflicting: int = 0
    skipped: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    skips: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every item read is in the job table as it was (imported now or before)."""
        return self.conflicting == 0 and self.skipped == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _key_text(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"pk": item.get("pk"), "sk": item.get("sk")}


def _skip(report: ImportReport, item: Mapping[str, Any], reason: str, log: logging.Logger) -> None:
    report.skipped += 1
    if len(report.skips) < MAX_LISTED:
        report.skips.append({**_key_text(item), "reason": reason})
    log.warning("Skipped old item pk=%r sk=%r: %s", item.get("pk"), item.get("sk"), reason)


def check_legacy_table(client: Any, table: str) -> None:
    """``LegacyImportError`` unless ``table`` exists with key schema pk (HASH) + sk (RANGE)."""
    try:
        description = client.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise LegacyImportError(f"source table {table!r} does not exist") from None
        raise
    keys = {k["AttributeName"]: k["KeyType"] for k in description.get("KeySchema", [])}
    if keys != LEGACY_KEY_SCHEMA:
        found = ", ".join(f"{name} ({kind})" for name, kind in keys.items()) or "none"
        raise LegacyImportError(
            f"source table {table!r} has key schema {found}; an old job table has pk (HASH) + sk (RANGE)"
        )


def scan_items(client: Any, table: str, page_size: int = 100) -> Iterator[dict[str, Any]]:
    """Every item of ``table``, page by page (``page_size`` items a request), as plain Python values."""
    deserializer = TypeDeserializer()
    request: dict[str, Any] = {"TableName": table, "Limit": page_size, "ConsistentRead": True}
    while True:
        response = client.scan(**request)
        for raw in response.get("Items", []):
            yield {k: deserializer.deserialize(v) for k, v in raw.items()}
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def import_legacy_table(
    source_client: Any,
    target: JobTable,
    source_table: str,
    *,
    source_delimiter: str | None = None,
    dry_run: bool = False,
    page_size: int = 100,
    log: logging.Logger | None = None,
) -> ImportReport:
    """Copy every job of ``source_table`` into ``target``; see the module docstring.

    :param source_client: a boto3 DynamoDB client used only for DescribeTable and Scan on the source.
    :param source_delimiter: the old job ids' delimiter (default: the target's).
    :param dry_run: read and compare only; write nothing.
    """
    log = log or logging.getLogger(__name__)
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    if source_table == target.table_name:
        raise LegacyImportError(f"source table {source_table!r} is the job table itself")
    check_legacy_table(source_client, source_table)
    target.check_table()
    report = ImportReport(source_table=source_table, target_table=target.table_name, dry_run=dry_run)
    delimiter = source_delimiter or target.delimiter
    for item in scan_items(source_client, source_table, page_size):
        report.read += 1
        try:
            record = map_legacy_item(
                item,
                source_delimiter=delimiter,
                target_delimiter=target.delimiter,
                source_table=source_table,
            )
            outcome, differing = target.import_record(record, dry_run=dry_run)
        except ValueError as exc:  # LegacyRecordError, or a value the job table cannot store
            _skip(report, item, str(exc), log)
            continue
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") != "ValidationException":  # e.g. the item is too large for DynamoDB
                raise
            _skip(report, item, f"DynamoDB refused it: {error.get('Message')}", log)
            continue
        if outcome == "imported":
            report.imported += 1
        elif outcome == "identical":
            report.identical += 1
        else:
            report.conflicting += 1
            if len(report.conflicts) < MAX_LISTED:
                report.conflicts.append({"job_id": record["job_id"], "differing_fields": differing})
            log.warning("Job %s already in the job table with other values: %s", record["job_id"], differing)
    return report
