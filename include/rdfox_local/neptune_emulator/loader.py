"""The bulk loader: Neptune's one-load-at-a-time worker with its FIFO queue of up to 64 requests."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from typing import Any

import pyoxigraph as ox

from rdfox_local.neptune_emulator import statuses as st
from rdfox_local.neptune_emulator.config import EmulatorConfig
from rdfox_local.neptune_emulator.errors import (
    NeptuneApiError,
    bad_request,
    load_not_found,
    load_url_access_denied,
)
from rdfox_local.neptune_emulator.faults import Faults
from rdfox_local.neptune_emulator.jobs import Counters, Feed, LoadJob
from rdfox_local.neptune_emulator.params import LoadRequest
from rdfox_local.neptune_emulator.rdf_load import load_feed
from rdfox_local.neptune_emulator.role_access import NO_CREDENTIAL, RoleAccess, RoleGrants
from rdfox_local.neptune_emulator.s3_source import FeedReadError, S3Object, S3Source

log = logging.getLogger(__name__)

_S3_FEED_FAILURES = frozenset(
    {
        st.LOAD_S3_READ_ERROR,
        st.LOAD_S3_ACCESS_DENIED_ERROR,
        st.LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED,
    }
)


class Loader:
    def __init__(
        self, store: ox.Store, s3: S3Source, faults: Faults, config: EmulatorConfig, roles: RoleAccess
    ) -> None:
        self._store = store
        self._s3 = s3
        self._roles = roles
        self._faults = faults
        self._config = config
        self._cond = threading.Condition()
        self._jobs: OrderedDict[str, LoadJob] = OrderedDict()
        self._queue: deque[LoadJob] = deque()
        self._running: LoadJob | None = None
        # For mode AUTO/RESUME: feeds (uri, etag) already loaded from each source, and its last run number.
        self._loaded_feeds: dict[str, set[tuple[str, str]]] = {}
        self._runs: dict[str, int] = {}
        self.stats: Counter[str] = Counter()
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="neptune-loader", daemon=True)
        self._worker.start()

    # -- API ---------------------------------------------------------------------------------------------
    def submit(self, request: LoadRequest) -> str:
        if request.mode == "RESUME" and request.source not in self._runs:
            raise bad_request(f"No previous load found to resume for source {request.source} (mode RESUME)")
        # Neptune assumes the role and lists the source when the request arrives: an unattached role, a role
        # that may not list the bucket, a bad bucket or an empty prefix is a 400 now.
        _require_list(self._roles.grants_for(request.iam_role_arn), request)
        self._s3.list_source(request.source, request.bucket, request.prefix)
        with self._cond:
            busy = self._running is not None or bool(self._queue)
            if busy and not request.queue_request:
                raise bad_request(
                    f"Failed to start new load for the source {request.source}. "
                    "Max concurrent load limit breached. Limit is 1"
                )
            queued = sum(1 for job in self._queue if job.status == st.LOAD_IN_QUEUE)
            if busy and queued >= self._config.max_queue:
                raise bad_request(
                    f"Failed to start new load for the source {request.source}. "
                    f"Max load request queue size limit breached. Limit is {self._config.max_queue}"
                )
            for dep in request.dependencies:
                if dep not in self._jobs:
                    raise bad_request(f"Invalid dependencies: load id {dep} not found")
            job = LoadJob(str(uuid.uuid4()), request, st.LOAD_IN_QUEUE if busy else st.LOAD_NOT_STARTED)
            self._jobs[job.load_id] = job
            self._queue.append(job)
            self.stats["loads_submitted"] += 1
            self._prune()
            self._cond.notify_all()
            return job.load_id

    def get(self, load_id: str) -> LoadJob:
        with self._cond:
            job = self._jobs.get(load_id)
        if job is None:
            raise load_not_found(load_id)
        return job

    def list_ids(self, limit: int, include_queued: bool) -> list[str]:
        with self._cond:
            jobs = list(self._jobs.values())
        queued = [j for j in reversed(jobs) if j.status == st.LOAD_IN_QUEUE]
        others = [j for j in reversed(jobs) if j.status != st.LOAD_IN_QUEUE]
        ordered = (queued if include_queued else []) + others
        return [j.load_id for j in ordered[:limit]]

    def cancel(self, load_id: str) -> None:
        with self._cond:
            job = self._jobs.get(load_id)
            if job is None or not job.active:
                # Cancel Job: an unknown load and one that has ended get the same 404.
                raise NeptuneApiError(
                    404,
                    "BulkLoadIdNotFoundException",
                    f"The load with id = {load_id} does not exist or not active",
                )
            job.cancel.set()
            if job in self._queue:
                self._queue.remove(job)
            job.status = st.LOAD_CANCELLED_BY_USER
            job.finished_at = time.monotonic()
            self.stats["loads_cancelled"] += 1
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget every load (the store is cleared by the caller); a running load is cancelled first."""
        with self._cond:
            for job in self._jobs.values():
                job.cancel.set()
            self._queue.clear()
            self._jobs.clear()
            self._loaded_feeds.clear()
            self._runs.clear()
            self.stats.clear()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running is not None or self._queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            by_status = Counter(job.status for job in self._jobs.values())
            return {
                **dict(self.stats),
                "loads_by_status": dict(by_status),
                "queue_length": len(self._queue),
                "running": self._running.load_id if self._running else None,
            }

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    # -- worker ------------------------------------------------------------------------------------------
    def _prune(self) -> None:
        while len(self._jobs) > self._config.max_tracked_loads:
            oldest = next((j for j in self._jobs.values() if not j.active), None)
            if oldest is None:
                return
            del self._jobs[oldest.load_id]

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                self._running = job
            try:
                self._run(job)
            except Exception as exc:  # a bug or store failure must not kill the worker
                log.exception("load %s failed unexpectedly", job.load_id)
                self._add_error(
                    job, "UNEXPECTED_ERROR", f"{type(exc).__name__}: {exc}", job.request.source, 0
                )
                self._finish(job, st.LOAD_UNEXPECTED_ERROR)
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def _add_error(self, job: LoadJob, code: str, message: str, file_name: str, record: int) -> None:
        if len(job.errors) >= self._config.max_errors_per_load:
            job.errors.pop(0)  # Neptune keeps only the most recent errors of a load
        job.errors.append(
            {"errorCode": code, "errorMessage": message, "fileName": file_name, "recordNum": record}
        )

    def _finish(self, job: LoadJob, status: str) -> None:
        with self._cond:
            if job.cancel.is_set():
                status = st.LOAD_CANCELLED_BY_USER
            else:
                self.stats["loads_finished"] += 1
            job.status = status
            if job.finished_at is None:
                job.finished_at = time.monotonic()
            self._cond.notify_all()
        log.info("load %s finished: %s", job.load_id, status)

    def _run(self, job: LoadJob) -> None:
        request = job.request
        forced = self._faults.take_next_load_status()
        with self._cond:
            if job.cancel.is_set():
                return
            job.status = st.LOAD_IN_PROGRESS
            job.start_time = int(time.time())
            job.started_at = time.monotonic()
            job.run_number = self._runs.get(request.source, 0) + 1
            self._runs[request.source] = job.run_number
            self.stats["loads_started"] += 1
        for dep in request.dependencies:
            dep_job = self._jobs.get(dep)
            if dep_job is None or dep_job.status != st.LOAD_COMPLETED:
                status = dep_job.status if dep_job else "unknown"
                self._add_error(
                    job, "DEPENDENCY_NOT_SATISFIED", f"dependency {dep} ended {status}", request.source, 0
                )
                self._finish(job, st.LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED)
                return
        try:
            # The role is assumed again when the load runs: its policies may have changed since the request.
            grants = self._roles.grants_for(request.iam_role_arn)
            _require_list(grants, request)
            objects = self._s3.list_source(request.source, request.bucket, request.prefix)
        except NeptuneApiError as exc:
            # The role cannot be assumed, or S3 refused to list (the role's policy or the bucket's).
            denied = exc.message.startswith(NO_CREDENTIAL) or "list operation" in exc.message
            feed_status = st.LOAD_S3_ACCESS_DENIED_ERROR if denied else st.LOAD_S3_READ_ERROR
            job.feeds = [Feed(request.source, status=feed_status)]
            self._add_error(job, feed_status, exc.message, request.source, 0)
            self._finish(job, st.LOAD_FAILED)
            return
        if request.mode in ("AUTO", "RESUME"):
            done = self._loaded_feeds.get(request.source, set())
            objects = [o for o in objects if (o.uri, o.etag) not in done]
        job.feeds = [Feed(o.uri) for o in objects]
        throttle = self._faults.throttle_seconds
        if forced is not None and forced != st.LOAD_COMPLETED:
            if self._throttled(job, throttle):
                self._finish(job, st.LOAD_CANCELLED_BY_USER)
                return
            for feed in job.feeds:
                feed.status = forced if forced != st.LOAD_CANCELLED_BY_USER else feed.status
            self._add_error(job, forced, f"emulator: load forced to end with {forced}", request.source, 0)
            self._finish(job, forced)
            return
        status = self._load_feeds(job, objects, throttle, grants)
        self._finish(job, st.LOAD_COMPLETED if forced == st.LOAD_COMPLETED else status)

    @staticmethod
    def _throttled(job: LoadJob, until_offset: float) -> bool:
        """Wait until ``until_offset`` seconds after the load began; True if it was cancelled meanwhile."""
        began = job.started_at if job.started_at is not None else time.monotonic()
        remaining = began + until_offset - time.monotonic()
        if remaining > 0:
            return job.cancel.wait(remaining)
        return job.cancel.is_set()

    def _load_feeds(self, job: LoadJob, objects: list[S3Object], throttle: float, grants: RoleGrants) -> str:
        request = job.request
        stopped = False
        for index, (feed, obj) in enumerate(zip(job.feeds, objects, strict=True)):
            # Throttle spread over the feeds: the load stays LOAD_IN_PROGRESS for the set time while its
            # record count grows feed by feed (what a poller sees of a long real load); cancels land cleanly.
            if self._throttled(job, throttle * (index + 1) / len(objects)):
                return st.LOAD_CANCELLED_BY_USER
            feed.status = st.LOAD_IN_PROGRESS
            feed.start_time = int(time.time())
            began = time.monotonic()
            try:
                if not grants.allows("s3:GetObject", f"arn:aws:s3:::{obj.bucket}/{obj.key}"):
                    raise FeedReadError(
                        st.LOAD_S3_ACCESS_DENIED_ERROR,
                        f"Access denied reading {obj.uri}: role {grants.role_arn} is not allowed "
                        f"s3:GetObject on arn:aws:s3:::{obj.bucket}/{obj.key}",
                    )
                data = self._s3.read(obj)
            except FeedReadError as exc:
                feed.status = exc.status
                self._add_error(job, exc.status, str(exc), obj.uri, 0)
                stopped = request.fail_on_error
                if stopped:
                    break
                continue
            result = load_feed(
                self._store, data, request.format, base_iri=request.base_uri,
                named_graph=request.named_graph_uri, fail_on_error=request.fail_on_error,
            )  # fmt: skip
            feed.counters = Counters(
                records=result.records, duplicates=result.duplicates, parsing_errors=len(result.errors)
            )
            for error in result.errors:
                self._add_error(job, "PARSING_ERROR", error.message, obj.uri, error.record_num)
            feed.time_spent = time.monotonic() - began
            feed.status = st.LOAD_FAILED if result.errors else st.LOAD_COMPLETED
            if not result.errors:
                self._loaded_feeds.setdefault(request.source, set()).add((obj.uri, obj.etag))
            if result.errors and request.fail_on_error:
                stopped = True
                break
        if stopped or any(f.status in _S3_FEED_FAILURES for f in job.feeds):
            return st.LOAD_FAILED
        total = job.total()
        if total.parsing_errors and total.records - total.parsing_errors <= 0:
            return st.LOAD_FAILED  # failOnError=FALSE still fails when nothing at all could be loaded
        return st.LOAD_COMPLETED


def _require_list(grants: RoleGrants, request: LoadRequest) -> None:
    bucket_arn = f"arn:aws:s3:::{request.bucket}"
    if not grants.allows("s3:ListBucket", bucket_arn):
        raise load_url_access_denied(
            f"Unable to perform S3 list operation on source {request.source}: role {grants.role_arn} "
            f"is not allowed s3:ListBucket on {bucket_arn}"
        )
