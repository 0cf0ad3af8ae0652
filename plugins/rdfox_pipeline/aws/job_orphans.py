"""Orphan job records: CREATED long after their run should have moved them on, because the worker that
registered them died and no retry took them up (retries exhausted, or the run was deleted).

A live run keeps its record CREATED only from ``register_job`` until ``reason`` writes SCHEDULED, i.e. while
it waits for a pod slot; ``ORPHAN_AFTER`` is far beyond that wait, so a record older than it has no run left
that will finish it. Marking it SCHEDULE_FAILED (conditional on it still being CREATED) says so with a reason
instead of leaving a status that says nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from rdfox_pipeline.aws.job_table import (
    STATUS_INDEX_NAME,
    JobMetadataError,
    JobTable,
)
from rdfox_pipeline.domain.statuses import JobStatus

# A week: a run can queue for a pod slot for days (max_active_runs runs behind a small rdfox_pods pool, each
# reasoning up to 48 h); a shorter bound would fail a live run's record under it.
ORPHAN_AFTER = timedelta(days=7)


def iter_orphans(
    table: JobTable, *, dataset: str | None = None, older_than: timedelta = ORPHAN_AFTER
) -> Iterator[dict[str, Any]]:
    """CREATED records last written more than ``older_than`` ago (of ``dataset`` only, when given).

    One query of the status index, whose range key ``updated_at`` bounds it to the old records.
    """
    cutoff = (datetime.now(UTC) - older_than).isoformat(timespec="microseconds")
    request: dict[str, Any] = {
        "TableName": table.table_name,
        "IndexName": STATUS_INDEX_NAME,
        "KeyConditionExpression": "job_status = :s AND updated_at < :cutoff",
        "ExpressionAttributeValues": {":s": {"S": JobStatus.CREATED.value}, ":cutoff": {"S": cutoff}},
    }
    if dataset:
        request["FilterExpression"] = "dataset = :d"
        request["ExpressionAttributeValues"][":d"] = {"S": dataset}
    while True:
        response = table.conn.query(**request)
        for item in response.get("Items", []):
            yield table._deserialize_item(item)
        if not response.get("LastEvaluatedKey"):
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def orphan_reason(record: dict[str, Any], found_by: str) -> str:
    """The record's ``error_reason``: which run left it, since when, and who found it."""
    run = record.get("dag_run_id") or "(unknown)"
    return (
        f"orphan: job {record.get('job_id')} was allocated by dag run {run} "
        f"at {record.get('created_at')} and was still CREATED at {record.get('updated_at')}: that run's "
        f"registration never finished (its worker was lost) and no retry took the job up; "
        f"marked failed by {found_by}"
    )


def fail_orphans(
    table: JobTable,
    found_by: str,
    *,
    dataset: str | None = None,
    older_than: timedelta = ORPHAN_AFTER,
    exclude: frozenset[str] = frozenset(),
) -> list[str]:
    """Mark each orphan SCHEDULE_FAILED with ``orphan_reason``; returns the ids marked.

    A record that moved on meanwhile (its run was alive after all) is left alone: the update requires
    CREATED.
    """
    marked: list[str] = []
    for record in list(iter_orphans(table, dataset=dataset, older_than=older_than)):
        job_id = str(record["job_id"])
        if job_id in exclude:
            continue
        try:
            table.record_status(
                job_id,
                JobStatus.SCHEDULE_FAILED,
                expected_status=JobStatus.CREATED,
                error_reason=orphan_reason(record, found_by),
            )
        except JobMetadataError as exc:
            table.log.info("Job %s is no orphan after all: %s", job_id, exc)
            continue
        table.log.warning(
            "Job %s was an orphan (run %s): marked SCHEDULE_FAILED", job_id, record.get("dag_run_id")
        )
        marked.append(job_id)
    return marked
