"""Job records in DynamoDB (plain boto3): one item per job, its whole life visible in one place.

Table shape (kept from the system this replaces): partition key ``dataset`` (S), sort key ``job_key`` (S,
``<YYYY-MM-DD><d><NNN>``), global secondary index ``Job_Status_Index`` on ``job_status`` with
``updated_at`` as its range key. Every write is conditional: ids are allocated with ``attribute_not_exists``
and status changes never move a finished job (a notification was sent) back. ``revision`` counts the
record's writes in the order DynamoDB applied them (``updated_at`` is the writer's clock).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from rdfox_pipeline.aws.dynamo_values import from_dynamo, to_dynamo, to_json_text
from rdfox_pipeline.domain.job_ids import DEFAULT_DELIMITER, JobId, format_job_id, parse_job_id
from rdfox_pipeline.domain.statuses import FINISHED_STATUSES, JobStatus, parse_job_status

STATUS_INDEX_NAME = "Job_Status_Index"

# Attributes the table code owns: callers cannot overwrite them through record_status(**fields).
_RESERVED_FIELDS = frozenset(
    {"dataset", "job_key", "job_id", "job_status", "created_at", "updated_at", "revision", "allocation_key"}
    | {"notification_claim"}  # written only through claim_notification / settle_notification_claim
)

# The job's one announcement (see ``claim_notification``): who publishes which outcome, and how far it got.
NOTIFICATION_CLAIM_FIELD = "notification_claim"
CLAIM_PUBLISHING, CLAIM_PUBLISHED, CLAIM_FAILED = "publishing", "published", "failed"
_FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# A field whose JSON is larger than this goes to S3 (DynamoDB's item limit is 400 KB for the whole item; the
# dozen or so fields of a record each stay well under it, whatever the log or the Neptune payload holds).
DEFAULT_INLINE_LIMIT = 16 * 1024
# What one call may add to the item inline, all fields together: the largest fields go to S3 beyond it.
CALL_INLINE_BUDGET = 64 * 1024
# If DynamoDB still finds the item too large (many calls, many fields), the call is retried once with every
# given field above this size in S3.
_FALLBACK_INLINE_LIMIT = 1024
# What stays in the item of a large text field (e.g. an error reason): a readable start and the S3 URI.
_TEXT_PREVIEW_CHARS = 2000

_MAX_SEQ = 999  # NNN is three digits in the job id format


class JobMetadataError(Exception):
    """Base class of the job record errors."""


class JobNotFound(JobMetadataError, LookupError):
    """No record for that job id."""


class JobAlreadyFinished(JobMetadataError):
    """The job has a finished status; nothing may change it any more."""


class UnexpectedJobStatus(JobMetadataError):
    """The job is not in the status the caller required (``expected_status`` / ``allowed_from``)."""


class JobIdAllocationError(JobMetadataError):
    """No job id could be allocated (contention beyond the retry budget, or the day's ids used up)."""


def _now() -> str:
    # Fixed width, so that the lexicographic order of the GSI range key is the time order.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _item_too_large(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "maximum allowed size" in str(error.get("Message"))


def allocation_key(dag_run_id: str, identity: str) -> str:
    """One run's idempotency key: the same dag run and jobspec identity always give the same key."""
    return hashlib.sha256(json.dumps([dag_run_id, identity]).encode()).hexdigest()[:32]


def _status_value(status: JobStatus | str) -> str:
    return status.value if isinstance(status, JobStatus) else parse_job_status(status).value


class JobTable:
    """
    The job table, over plain boto3 clients (no Airflow): what ``JobMetadataHook`` and the CLI both use.

    :param client: a boto3 DynamoDB client.
    :param table_name: the job table; default: the JOB_TABLE_NAME setting, read when first needed.
    :param delimiter: the job id delimiter; default: the JOB_ID_DELIMETER setting.
    :param s3_client: a boto3 S3 client, or a callable making one when a field first needs S3.
    :param output_bucket: bucket for fields too large for the item; default: the record's jobspec
        ``output_bucket``, then the OUTPUT_BUCKET setting.
    :param settings: a callable returning the resolved ``Settings`` (called at most once, lazily).
    :param inline_limit: size in bytes above which a field is written to S3 instead of the item.
    """

    def __init__(
        self,
        client: Any,
        *,
        table_name: str | None = None,
        delimiter: str | None = None,
        s3_client: Any = None,
        output_bucket: str | None = None,
        settings: Callable[[], Any] | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        log: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self.conn = client
        self._table_name = table_name
        self._delimiter = delimiter
        self._s3_client = s3_client
        self._output_bucket = output_bucket
        self._settings_factory = settings
        self.inline_limit = inline_limit
        self.log = log or logging.getLogger(__name__)
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    # -- configuration, resolved lazily -------------------------------------------------------------------

    @cached_property
    def _settings(self) -> Any:
        if self._settings_factory is None:
            from rdfox_pipeline.aws.settings_loader import load_settings  # run time only: reads SSM

            return load_settings()
        return self._settings_factory()

    @property
    def table_name(self) -> str:
        if not self._table_name:
            name = self._settings.job_table_name
            if not name:
                raise JobMetadataError("the JOB_TABLE_NAME setting is empty: no job table to use")
            self._table_name = str(name)
        return self._table_name

    @property
    def delimiter(self) -> str:
        if self._delimiter is None:
            self._delimiter = str(getattr(self._settings, "job_id_delimeter", None) or DEFAULT_DELIMITER)
        return self._delimiter

    @cached_property
    def _s3(self) -> Any:
        if self._s3_client is None:
            import boto3

            return boto3.client("s3")
        return self._s3_client() if callable(self._s3_client) else self._s3_client

    # -- table ----------------------------------------------------------------------------------------------

    def create_table_if_missing(self, wait_timeout: float = 300.0) -> bool:
        """Create the job table with its status index if it does not exist; True if it was created.

        For local stacks and tests; production tables are provisioned with the infrastructure. Never call it
        at DAG parse time.
        """
        client = self.conn
        created = False
        try:
            description = client.describe_table(TableName=self.table_name)["Table"]
        except client.exceptions.ResourceNotFoundException:
            try:
                client.create_table(**self._table_definition())
                created = True
                self.log.info("Created DynamoDB job table %s", self.table_name)
            except client.exceptions.ResourceInUseException:
                pass  # someone else created it meanwhile
            waiter = client.get_waiter("table_exists")
            delay = 2
            waiter.wait(
                TableName=self.table_name,
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(wait_timeout // delay))},
            )
            description = client.describe_table(TableName=self.table_name)["Table"]
        self._check_table_shape(description)
        return created

    def _table_definition(self) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": "dataset", "AttributeType": "S"},
                {"AttributeName": "job_key", "AttributeType": "S"},
                {"AttributeName": "job_status", "AttributeType": "S"},
                {"AttributeName": "updated_at", "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": "dataset", "KeyType": "HASH"},
                {"AttributeName": "job_key", "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": STATUS_INDEX_NAME,
                    "KeySchema": [
                        {"AttributeName": "job_status", "KeyType": "HASH"},
                        {"AttributeName": "updated_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        }

    def check_table(self) -> None:
        """Describe the table; ``JobMetadataError`` unless it has this code's key schema and status index."""
        self._check_table_shape(self.conn.describe_table(TableName=self.table_name)["Table"])

    def _check_table_shape(self, description: Mapping[str, Any]) -> None:
        keys = {k["AttributeName"]: k["KeyType"] for k in description.get("KeySchema", [])}
        if keys != {"dataset": "HASH", "job_key": "RANGE"}:
            raise JobMetadataError(
                f"DynamoDB table {self.table_name!r} has key schema {keys}, "
                "expected dataset (HASH) + job_key (RANGE)"
            )
        indexes = {i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])}
        if STATUS_INDEX_NAME not in indexes:
            raise JobMetadataError(f"DynamoDB table {self.table_name!r} has no index {STATUS_INDEX_NAME!r}")

    # -- ids ------------------------------------------------------------------------------------------------

    def parse_job_id(self, job_id: str) -> JobId:
        """The parts of a job id; ``ValueError`` naming what is wrong."""
        return parse_job_id(job_id, self.delimiter)

    def _key(self, job: JobId) -> dict[str, Any]:
        return {"dataset": {"S": job.dataset}, "job_key": {"S": job.sort_key(self.delimiter)}}

    def _highest_seq(self, dataset: str, day: date) -> int:
        prefix = f"{day.isoformat()}{self.delimiter}"
        response = self.conn.query(
            TableName=self.table_name,
            KeyConditionExpression="dataset = :d AND begins_with(job_key, :p)",
            ExpressionAttributeValues={":d": {"S": dataset}, ":p": {"S": prefix}},
            ProjectionExpression="job_key",
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        if not items:
            return -1
        return int(items[0]["job_key"]["S"][len(prefix) :])

    def _find_allocated(self, dataset: str, day: date, key: str) -> str | None:
        """The CREATED job of ``dataset`` that an earlier try of the same run allocated under ``key``, if any.

        Looks at ``day`` and the day before (a try that died just before midnight), in the table itself with
        consistent reads: the status index is eventually consistent and could miss a record just written.
        """
        for when in (day, day - timedelta(days=1)):
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "KeyConditionExpression": "dataset = :d AND begins_with(job_key, :p)",
                "FilterExpression": "allocation_key = :k AND job_status = :s",
                "ExpressionAttributeValues": {
                    ":d": {"S": dataset},
                    ":p": {"S": f"{when.isoformat()}{self.delimiter}"},
                    ":k": {"S": key},
                    ":s": {"S": JobStatus.CREATED.value},
                },
                "ProjectionExpression": "job_id",
                "ConsistentRead": True,
            }
            while True:
                response = self.conn.query(**request)
                items = response.get("Items", [])
                if items:
                    return str(items[0]["job_id"]["S"])
                if not response.get("LastEvaluatedKey"):
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return None

    def _written_by_us(self, job: JobId, key: str, exc: ClientError) -> bool:
        """Whether the item that failed our put's condition is our own earlier write (its reply was lost)."""
        old = exc.response.get("Item")
        if old is None:  # not every server returns the old item: read it
            old = self.conn.get_item(TableName=self.table_name, Key=self._key(job), ConsistentRead=True).get(
                "Item"
            )
        return bool(old) and old.get("allocation_key", {}).get("S") == key

    def allocate_job(
        self,
        dataset: str,
        *,
        day: date | None = None,
        jobspec: Any = None,
        dag_run_id: str | None = None,
        max_attempts: int = 60,
        jobspec_notes: Sequence[str] | None = None,
        allocation_key: str | None = None,
    ) -> str:
        """Allocate the next job id of ``dataset`` for ``day`` (default: today, UTC) and write its record.

        Atomic across any number of concurrent callers: read the day's highest NNN, then write NNN+1 with an
        ``attribute_not_exists`` condition; a caller that loses the race reads again after a jittered pause.

        Idempotent per ``allocation_key`` (see ``allocation_key()``): a CREATED job already written under the
        key (by an earlier try of the same run) is returned instead of a new one, and a put whose reply was
        lost (botocore's retry then fails the condition on our own item) returns the id it wrote.
        """
        day = day or datetime.now(UTC).date()
        format_job_id(dataset, day, 0, self.delimiter)  # validates the dataset name before any I/O
        if allocation_key:
            earlier = self._find_allocated(dataset, day, allocation_key)
            if earlier:
                self.log.info("Taking up job %s, allocated by an earlier try of this run", earlier)
                return earlier
        now = _now()
        base: dict[str, Any] = {"dataset": dataset, "job_status": JobStatus.CREATED.value}
        if jobspec is not None:
            base["jobspec"] = jobspec.to_json_dict() if hasattr(jobspec, "to_json_dict") else jobspec
        if dag_run_id:
            base["dag_run_id"] = dag_run_id
        if allocation_key:
            base["allocation_key"] = allocation_key
        if jobspec_notes:  # in the same put as the jobspec: the record never exists without its notes
            base["jobspec_notes"] = list(jobspec_notes)
        attempt = 0
        candidate = -1
        while True:
            attempt += 1
            # Never retry a number already lost: a stale read must not make us hammer the same key.
            seq = max(self._highest_seq(dataset, day) + 1, candidate + 1)
            if seq > _MAX_SEQ:
                raise JobIdAllocationError(
                    f"dataset {dataset!r} already has {_MAX_SEQ + 1} jobs on {day.isoformat()}: "
                    "the job id's NNN has three digits"
                )
            candidate = seq
            job = JobId(dataset, day, seq)
            job_id = job.format(self.delimiter)
            item = {**base, "job_key": job.sort_key(self.delimiter), "job_id": job_id}
            item.update({"created_at": now, "updated_at": now, "revision": 0})
            try:
                self.conn.put_item(
                    TableName=self.table_name,
                    Item=self._serialize_item(item),
                    ConditionExpression="attribute_not_exists(job_key)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                if allocation_key and self._written_by_us(job, allocation_key, exc):
                    self.log.info("Allocated job id %s (the first reply was lost; botocore retried)", job_id)
                    return job_id
                if attempt >= max_attempts:
                    raise JobIdAllocationError(
                        f"could not allocate a job id for dataset {dataset!r} on {day.isoformat()} "
                        f"after {attempt} attempts (too many concurrent allocations)"
                    ) from None
                # Jitter, not security: a pseudo-random pause spreads the losers of an allocation race.
                time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** min(attempt, 6))))  # noqa: S311  # nosec B311
                continue
            self.log.info("Allocated job id %s", job_id)
            return job_id

    # -- reads ----------------------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """The record of ``job_id`` as a plain JSON-able dict, or None."""
        job = self.parse_job_id(job_id)
        response = self.conn.get_item(TableName=self.table_name, Key=self._key(job), ConsistentRead=True)
        item = response.get("Item")
        return self._deserialize_item(item) if item else None

    def require_job(self, job_id: str) -> dict[str, Any]:
        """The record of ``job_id``; ``JobNotFound`` if there is none."""
        record = self.get_job(job_id)
        if record is None:
            raise JobNotFound(f"no job {job_id!r} in table {self.table_name!r}")
        return record

    def list_jobs_page(
        self,
        status: JobStatus | str | None = None,
        page_size: int = 50,
        start_key: Mapping[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of jobs, newest update first when by status (status index) or in table order (scan).

        Returns the records and the key to pass as ``start_key`` for the next page (None after the last).
        """
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        request: dict[str, Any] = {"TableName": self.table_name, "Limit": page_size}
        if start_key:
            request["ExclusiveStartKey"] = self._serialize_item(dict(start_key))
        if status is None:
            response = self.conn.scan(**request)
        else:
            response = self.conn.query(
                IndexName=STATUS_INDEX_NAME,
                KeyConditionExpression="job_status = :s",
                ExpressionAttributeValues={":s": {"S": _status_value(status)}},
                ScanIndexForward=False,
                **request,
            )
        items = [self._deserialize_item(i) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, (self._deserialize_item(last) if last else None)

    def iter_jobs_by_status(self, status: JobStatus | str, page_size: int = 50) -> Iterator[dict[str, Any]]:
        """Every job in ``status`` through the status index, newest update first, fetched page by page."""
        yield from self.iter_jobs(status, page_size=page_size)

    def iter_jobs(
        self, status: JobStatus | str | None = None, page_size: int = 50
    ) -> Iterator[dict[str, Any]]:
        """Every job (optionally only those in ``status``), fetched page by page."""
        start_key: dict[str, Any] | None = None
        while True:
            items, start_key = self.list_jobs_page(status, page_size, start_key)
            yield from items
            if not start_key:
                return

    # -- writes ---------------------------------------------------------------------------------------------

    def import_record(self, record: Mapping[str, Any], *, dry_run: bool = False) -> tuple[str, list[str]]:
        """Write a whole record (a job imported from elsewhere) unless its key is taken; never overwrites.

        Returns ``("imported", [])`` (in a dry run: would be), ``("identical", [])`` when the table holds
        exactly this record already, or ``("conflicting", [fields that differ])`` when it holds another one.
        Conditional, so a job allocated meanwhile under the same id is never replaced.
        """
        item = self._serialize_item(record)
        key = {"dataset": item["dataset"], "job_key": item["job_key"]}
        existing = self.conn.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        if existing is None and not dry_run:
            try:
                self.conn.put_item(
                    TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(job_key)"
                )
                return "imported", []
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
            existing = self.conn.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)["Item"]
        if existing is None:
            return "imported", []
        wanted, found = self._deserialize_item(item), self._deserialize_item(existing)
        differing = sorted(k for k in wanted.keys() | found.keys() if wanted.get(k) != found.get(k))
        return ("conflicting", differing) if differing else ("identical", [])

    def record_status(
        self,
        job_id: str,
        status: JobStatus | str,
        *,
        expected_status: JobStatus | str | None = None,
        allowed_from: Sequence[JobStatus | str] | None = None,
        output_bucket: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Set the job's status and the fields that go with it in one conditional update; returns the record.

        Only the given fields are written (concurrent writers of other fields are not overwritten); a field
        given as None is left as it is. The update is refused with ``JobAlreadyFinished`` when the job already
        has a finished status, ``JobNotFound`` when there is no such job, and ``UnexpectedJobStatus`` when
        ``expected_status``/``allowed_from`` is given and the current status is not among them. A field whose
        JSON is larger than ``inline_limit`` (or that would make the call add more than
        ``CALL_INLINE_BUDGET`` inline) is written to ``s3://<bucket>/<dataset>/<job_id>/metadata/
        <field>-<UTC time>.json`` and the item keeps ``<field>_uri`` (and, for text, a truncated preview).
        """
        job = self.parse_job_id(job_id)
        new_status = _status_value(status)
        for name in fields:
            if name in _RESERVED_FIELDS or name.startswith("ddb_") or not _FIELD_NAME_RE.match(name):
                raise ValueError(f"record_status cannot set field {name!r}")
        allowed = [_status_value(s) for s in allowed_from or ()]
        if expected_status is not None:
            allowed.append(_status_value(expected_status))

        given = {k: v for k, v in fields.items() if v is not None}
        try:
            return self._update(job_id, job, new_status, allowed, given, output_bucket, self.inline_limit)
        except ClientError as exc:
            if not _item_too_large(exc):
                raise
        # Earlier calls filled the item: keep only small values inline this time.
        self.log.warning("Job %s: record near DynamoDB's item size limit; moving fields to S3", job_id)
        try:
            return self._update(
                job_id, job, new_status, allowed, given, output_bucket, _FALLBACK_INLINE_LIMIT
            )
        except ClientError as exc:
            if not _item_too_large(exc):
                raise
            raise JobMetadataError(
                f"job {job_id!r}: the record is too large for DynamoDB even with every field over "
                f"{_FALLBACK_INLINE_LIMIT} bytes in S3 ({', '.join(sorted(given)) or 'no fields'} given)"
            ) from None

    def _update(
        self,
        job_id: str,
        job: JobId,
        new_status: str,
        allowed: list[str],
        given: Mapping[str, Any],
        output_bucket: str | None,
        inline_limit: int,
    ) -> dict[str, Any]:
        """One conditional UpdateItem, after writing the fields that go to S3 (``ClientError`` passes)."""
        sets, removes = self._field_updates(job, given, output_bucket, inline_limit, allowed)
        names = {"#status": "job_status", "#updated": "updated_at", "#revision": "revision"}
        attr_values: dict[str, Any] = {":status": new_status, ":updated": _now(), ":one": 1}
        set_clauses = ["#status = :status", "#updated = :updated"]
        for i, (name, value) in enumerate(sets.items()):
            names[f"#f{i}"] = name
            attr_values[f":v{i}"] = value
            set_clauses.append(f"#f{i} = :v{i}")
        remove_clauses = []
        for j, name in enumerate(removes):
            names[f"#r{j}"] = name
            remove_clauses.append(f"#r{j}")

        finished = sorted(s.value for s in FINISHED_STATUSES)
        finished_refs = [f":fin{k}" for k in range(len(finished))]
        attr_values.update(dict(zip(finished_refs, finished, strict=True)))
        condition = f"attribute_exists(job_key) AND NOT (#status IN ({', '.join(finished_refs)}))"
        if allowed:
            allowed_refs = [f":from{k}" for k in range(len(allowed))]
            attr_values.update(dict(zip(allowed_refs, allowed, strict=True)))
            condition += f" AND #status IN ({', '.join(allowed_refs)})"

        # updated_at is the writer's clock (workers' clocks differ); the revision counts the record's writes
        # in the order DynamoDB applied them.
        update = "SET " + ", ".join(set_clauses) + " ADD #revision :one"
        if remove_clauses:
            update += " REMOVE " + ", ".join(remove_clauses)
        try:
            response = self.conn.update_item(
                TableName=self.table_name,
                Key=self._key(job),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={k: self._serializer.serialize(v) for k, v in attr_values.items()},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise self._refusal(job_id, job, new_status, allowed, exc) from None
        self.log.info("Job %s -> %s", job_id, new_status)
        return self._deserialize_item(response["Attributes"])

    # -- the notification claim ---------------------------------------------------------------------------

    def claim_notification(self, job_id: str, outcome: str, token: str, *, lease_seconds: float) -> bool:
        """Take the right to publish the job's ``outcome`` notification; False when someone else holds it.

        One conditional write: it succeeds when the job is not finished and has no claim, or a claim for the
        same outcome whose publish failed, or one still "publishing" after ``lease_seconds`` (its holder died
        between claiming and recording). ``JobNotFound`` / ``JobAlreadyFinished`` when that is why it lost.
        """
        job = self.parse_job_id(job_id)
        now_ms = int(time.time() * 1000)
        claim = {"outcome": outcome, "state": CLAIM_PUBLISHING, "token": token, "claimed_at_ms": now_ms}
        finished = sorted(s.value for s in FINISHED_STATUSES)
        condition = (
            "attribute_exists(job_key) AND NOT (#status IN (:fin0, :fin1)) AND (attribute_not_exists(#claim) "
            "OR (#claim.#outcome = :outcome AND (#claim.#state = :failed "
            "OR (#claim.#state = :publishing AND #claim.#at < :stale))))"
        )
        values = {
            ":claim": claim, ":fin0": finished[0], ":fin1": finished[1], ":outcome": outcome,
            ":failed": CLAIM_FAILED, ":publishing": CLAIM_PUBLISHING,
            ":stale": now_ms - int(lease_seconds * 1000), ":updated": _now(), ":one": 1,
        }  # fmt: skip
        try:
            self.conn.update_item(
                TableName=self.table_name,
                Key=self._key(job),
                UpdateExpression="SET #claim = :claim, #updated = :updated ADD #revision :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    "#claim": NOTIFICATION_CLAIM_FIELD,
                    "#status": "job_status",
                    "#outcome": "outcome",
                    "#state": "state",
                    "#at": "claimed_at_ms",
                    "#updated": "updated_at",
                    "#revision": "revision",
                },
                ExpressionAttributeValues={k: self._serializer.serialize(v) for k, v in values.items()},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            record = self.get_job(job_id)
            if record is None:
                raise JobNotFound(f"no job {job_id!r} in table {self.table_name!r}") from None
            if record.get("job_status") in finished:
                raise JobAlreadyFinished(
                    f"job {job_id!r} is already finished ({record['job_status']})"
                ) from None
            return False
        self.log.info("Job %s: %s notification claimed", job_id, outcome)
        return True

    def settle_notification_claim(
        self,
        job_id: str,
        outcome: str,
        token: str,
        state: str,
        *,
        details: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how the claimed publish went: ``published`` (with e.g. the message id) or ``failed``.

        ``published`` is written whoever holds the claim now (a message went out, whoever took over since),
        with ``details`` (message id, subject, ...) in the claim; ``failed`` only by the holder (``token``),
        and it counts ``notification_failures`` and keeps ``error`` as ``notification_error``. Never touches
        the job's status.
        """
        job = self.parse_job_id(job_id)
        names = {"#claim": NOTIFICATION_CLAIM_FIELD, "#outcome": "outcome", "#state": "state",
                 "#updated": "updated_at", "#revision": "revision"}  # fmt: skip
        values: dict[str, Any] = {":outcome": outcome, ":state": state, ":updated": _now(), ":one": 1}
        sets = ["#claim.#state = :state", "#updated = :updated"]
        condition = "#claim.#outcome = :outcome"
        if state == CLAIM_FAILED:
            names.update(
                {"#token": "token", "#error": "notification_error", "#failures": "notification_failures"}
            )
            values.update({":token": token, ":zero": 0, ":error": error or ""})
            sets += ["#error = :error", "#failures = if_not_exists(#failures, :zero) + :one"]
            condition += " AND #claim.#token = :token"
        for i, (name, value) in enumerate((details or {}).items()):
            names[f"#c{i}"] = name
            values[f":c{i}"] = to_dynamo(name, value)[0]
            sets.append(f"#claim.#c{i} = :c{i}")
        try:
            self.conn.update_item(
                TableName=self.table_name,
                Key=self._key(job),
                UpdateExpression="SET " + ", ".join(sets) + " ADD #revision :one",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={k: self._serializer.serialize(v) for k, v in values.items()},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # Another try took the claim over (ours had gone stale): its own outcome will be recorded.
            self.log.warning(
                "Job %s: the notification claim is no longer ours; not marking it %s", job_id, state
            )

    def _refusal(
        self, job_id: str, job: JobId, new_status: str, allowed: list[str], exc: ClientError
    ) -> JobMetadataError:
        """Why a conditional update was refused, as the matching exception."""
        old = exc.response.get("Item")
        if old is None:  # not every server returns the old item: read it
            reread = self.conn.get_item(TableName=self.table_name, Key=self._key(job), ConsistentRead=True)
            old = reread.get("Item")
        if not old:
            return JobNotFound(f"no job {job_id!r} in table {self.table_name!r}")
        current = old.get("job_status", {}).get("S", "")
        if current in {s.value for s in FINISHED_STATUSES}:
            return JobAlreadyFinished(
                f"job {job_id!r} is already finished ({current}); refusing to set {new_status}"
            )
        return UnexpectedJobStatus(
            f"job {job_id!r} is in status {current}, not in {', '.join(allowed)}; "
            f"refusing to set {new_status}"
        )

    def _field_updates(
        self,
        job: JobId,
        fields: Mapping[str, Any],
        output_bucket: str | None,
        inline_limit: int,
        allowed: Sequence[str],
    ) -> tuple[dict[str, Any], list[str]]:
        """Split fields into (SET values, REMOVE names), moving large ones to S3.

        A field goes to S3 when it is larger than ``inline_limit``, and then the largest others until what
        stays inline fits ``CALL_INLINE_BUDGET``.
        """
        stored = {name: to_dynamo(name, value) for name, value in fields.items()}
        offload = {name for name, (_, size) in stored.items() if size > inline_limit}
        inline_total = sum(size for name, (_, size) in stored.items() if name not in offload)
        for name, (_, size) in sorted(stored.items(), key=lambda kv: kv[1][1], reverse=True):
            if inline_total <= CALL_INLINE_BUDGET:
                break
            if name not in offload:
                offload.add(name)
                inline_total -= size
        bucket = ""
        if offload:
            # Refuse before writing anything to S3 when the update would be refused anyway.
            record = self._check_writable(job, allowed)
            bucket = self._resolve_output_bucket(job, output_bucket, record)
        sets: dict[str, Any] = {}
        removes: list[str] = []
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        for name, value in fields.items():
            if name not in offload:
                sets[name] = stored[name][0]
                continue
            uri = self._write_large_field(job, name, value, bucket, stamp)
            sets[f"{name}_uri"] = uri
            if isinstance(value, str):
                preview = value[:_TEXT_PREVIEW_CHARS]
                sets[name] = f"{preview}... [truncated; {len(value)} characters in full at {uri}]"
            else:
                removes.append(name)  # an older inline value would contradict the new one in S3
        return sets, removes

    def _resolve_output_bucket(self, job: JobId, output_bucket: str | None, record: Mapping[str, Any]) -> str:
        if output_bucket or self._output_bucket:
            return str(output_bucket or self._output_bucket)
        spec = record.get("jobspec") or {}
        if isinstance(spec, Mapping) and spec.get("output_bucket"):
            return str(spec["output_bucket"])
        setting = getattr(self._settings, "output_bucket", None)
        if setting:
            return str(setting)
        raise JobMetadataError(
            f"job {job.format(self.delimiter)!r}: a field is too large for DynamoDB and no output bucket "
            "is known "
            "(pass output_bucket, or store a jobspec with output_bucket)"
        )

    def _check_writable(self, job: JobId, allowed: Sequence[str]) -> dict[str, Any]:
        """The current record; or what the conditional update would raise (checked before any S3 write)."""
        job_id = job.format(self.delimiter)
        record = self.get_job(job_id)
        if record is None:
            raise JobNotFound(f"no job {job_id!r} in table {self.table_name!r}")
        current = str(record.get("job_status", ""))
        if current in {s.value for s in FINISHED_STATUSES}:
            raise JobAlreadyFinished(f"job {job_id!r} is already finished ({current}); refusing to change it")
        if allowed and current not in allowed:
            raise UnexpectedJobStatus(f"job {job_id!r} is in status {current}, not in {', '.join(allowed)}")
        return record

    def _write_large_field(self, job: JobId, name: str, value: Any, bucket: str, stamp: str) -> str:
        job_id = job.format(self.delimiter)
        # A new object per write: an update refused after this write (a job finished meanwhile) leaves an
        # unreferenced object, never a changed one under a record that points at it.
        key = f"{job.dataset}/{job_id}/metadata/{name}-{stamp}.json"
        body = json.dumps(json.loads(to_json_text(name, value)), ensure_ascii=False, indent=1).encode("utf-8")
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        self.log.info("Job %s: %s (%d bytes) written to s3://%s/%s", job_id, name, len(body), bucket, key)
        return f"s3://{bucket}/{key}"

    # -- (de)serialisation ---------------------------------------------------------------------------------

    def _serialize_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(to_dynamo(k, v)[0]) for k, v in item.items()}

    def _deserialize_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: from_dynamo(self._deserializer.deserialize(v)) for k, v in item.items()}
