"""One load job and its feeds, rendered in Neptune's Get-Status payload shape."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rdfox_local.neptune_emulator import statuses as st
from rdfox_local.neptune_emulator.params import LoadRequest
from rdfox_local.neptune_emulator.status_shapes import shape_status

_OK_FEED_STATUSES = frozenset({st.LOAD_COMPLETED, *st.ACTIVE_STATUSES})


@dataclass
class Counters:
    records: int = 0
    duplicates: int = 0
    parsing_errors: int = 0
    datatype_mismatch_errors: int = 0
    insert_errors: int = 0

    def add(self, other: Counters) -> None:
        self.records += other.records
        self.duplicates += other.duplicates
        self.parsing_errors += other.parsing_errors
        self.datatype_mismatch_errors += other.datatype_mismatch_errors
        self.insert_errors += other.insert_errors


@dataclass
class Feed:
    uri: str
    status: str = st.LOAD_NOT_STARTED
    counters: Counters = field(default_factory=Counters)
    start_time: int | None = None
    time_spent: float = 0.0


@dataclass
class LoadJob:
    load_id: str
    request: LoadRequest
    status: str
    run_number: int = 1
    feeds: list[Feed] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    start_time: int | None = None  # epoch seconds when it began running
    started_at: float | None = None  # monotonic, for totalTimeSpent
    finished_at: float | None = None
    submitted_at: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.status in st.ACTIVE_STATUSES

    def total(self) -> Counters:
        total = Counters()
        for feed in self.feeds:
            total.add(feed.counters)
        return total

    def _time_spent(self) -> float:
        # Fractional seconds: status_shapes writes them as Neptune's documented variants.
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at

    def _status_object(
        self, uri: str, status: str, counters: Counters, time_spent: float, start_time: int | None
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "fullUri": uri,
            "runNumber": self.run_number,
            "retryNumber": 0,
            "status": status,
            "totalTimeSpent": time_spent,
        }
        if start_time is not None:
            obj["startTime"] = start_time
        obj.update(
            totalRecords=counters.records,
            totalDuplicates=counters.duplicates,
            parsingErrors=counters.parsing_errors,
            datatypeMismatchErrors=counters.datatype_mismatch_errors,
            insertErrors=counters.insert_errors,
        )
        return obj

    def payload(
        self, *, details: bool, errors: bool, page: int, errors_per_page: int, shape: str = "full"
    ) -> dict[str, Any]:
        counts = Counter(feed.status for feed in self.feeds)
        payload: dict[str, Any] = {
            "feedCount": [{status: n} for status, n in counts.items()],
            "overallStatus": self._status_object(
                self.request.source, self.status, self.total(), self._time_spent(), self.start_time
            ),
        }
        if details:
            payload["failedFeeds"] = [
                self._status_object(f.uri, f.status, f.counters, f.time_spent, f.start_time)
                for f in self.feeds
                if f.status not in _OK_FEED_STATUSES
            ]
        if errors:
            first = (page - 1) * errors_per_page
            logs = self.errors[first : first + errors_per_page]
            payload["errors"] = {
                "startIndex": first + 1 if logs else 0,
                "endIndex": first + len(logs) if logs else 0,
                "loadId": self.load_id,
                "errorLogs": logs,
            }
        return shape_status(payload, shape, details=details)
