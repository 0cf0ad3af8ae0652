"""Fault injection state, driven by the ``/_emulator/`` control endpoints (thread-safe).

A failure is injected in one of three modes, for the next ``count`` requests:

- ``before`` (default): answer the error without doing anything (throttling, an overloaded endpoint);
- ``after``: do the work, then answer the error instead of the result (a gateway that timed out while the
  cluster carried on: the client cannot tell whether its POST started a load);
- ``drop``: do the work, then close the connection without answering (a lost answer).

With ``code`` (a ``neptunedata`` error code), the error is that code with the status botocore's model gives
it (ThrottlingException 500, S3Exception 400, ...) instead of one of the fixed ``status`` bodies.
With ``match``, only requests whose method, path or body contain that text count (e.g. one job's source).
``slow-answers`` delays the answers of the next requests (work done at once, answer late: client timeouts);
``throttle`` makes each load last at least a set time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from rdfox_local.neptune_emulator.error_codes import status_of
from rdfox_local.neptune_emulator.errors import NeptuneApiError
from rdfox_local.neptune_emulator.statuses import TERMINAL_STATUSES

_FAULT_BODIES = {
    500: ("InternalFailureException", "The request processing has failed (emulator fault injection)."),
    429: ("TooManyRequestsException", "Too many requests (emulator fault injection)."),
    503: ("ServiceUnavailableException", "Service unavailable (emulator fault injection)."),
    504: ("GatewayTimeoutException", "Gateway timeout (emulator fault injection)."),
}
FAULT_MODES = ("before", "after", "drop")


@dataclass(frozen=True)
class InjectedFault:
    mode: str
    error: NeptuneApiError


@dataclass
class Faults:
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _status: int = 0
    _code: str | None = None  # a neptunedata error code: answered with the model's status for it
    _remaining: int = 0
    _mode: str = "before"
    _match: str | None = None
    throttle_seconds: float = 0.0
    _next_load_status: str | None = None
    injected: int = 0
    _slow_seconds: float = 0.0
    _slow_remaining: int = 0

    def set_failures(
        self, status: int | None, count: int, mode: str = "before", match: str | None = None,
        code: str | None = None,
    ) -> None:  # fmt: skip
        if code is not None:
            status = status_of(code)  # ThrottlingException 500, S3Exception 400, ... as the model says
        elif status not in _FAULT_BODIES:
            raise ValueError(f"status: must be one of {sorted(_FAULT_BODIES)}, got {status!r}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"count: must be a non-negative integer, got {count!r}")
        if mode not in FAULT_MODES:
            raise ValueError(f"mode: must be one of {', '.join(FAULT_MODES)}, got {mode!r}")
        if match is not None and (not isinstance(match, str) or not match):
            raise ValueError(f"match: must be a non-empty string, got {match!r}")
        with self._lock:
            self._status, self._remaining, self._mode, self._match = status, count, mode, match
            self._code = code

    def take_failure(self, request_text: str = "") -> InjectedFault | None:
        """The fault for this request (``request_text``: method, path and body), if one is pending."""
        with self._lock:
            if self._remaining <= 0:
                return None
            if self._match is not None and self._match not in request_text:
                return None
            self._remaining -= 1
            self.injected += 1
            if self._code is not None:
                code, message = self._code, f"{self._code} (emulator fault injection)."
            else:
                code, message = _FAULT_BODIES[self._status]
            return InjectedFault(self._mode, NeptuneApiError(self._status, code, message))

    def set_slow_answers(self, seconds: float, count: int) -> None:
        if not isinstance(seconds, int | float) or not 0 <= seconds <= 600:
            raise ValueError(f"seconds: must be a number from 0 to 600, got {seconds!r}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"count: must be a non-negative integer, got {count!r}")
        with self._lock:
            self._slow_seconds, self._slow_remaining = float(seconds), count

    def take_slow_answer(self) -> float:
        """Seconds to hold this request's answer back (0: none pending; consumes one)."""
        with self._lock:
            if self._slow_remaining <= 0:
                return 0.0
            self._slow_remaining -= 1
            return self._slow_seconds

    def set_throttle(self, seconds: float) -> None:
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"seconds: must be a non-negative number, got {seconds!r}")
        with self._lock:
            self.throttle_seconds = float(seconds)

    def set_next_load_status(self, status: str | None) -> None:
        if status is not None and status not in TERMINAL_STATUSES:
            raise ValueError(
                f"status: must be a terminal loader status {sorted(TERMINAL_STATUSES)}, got {status!r}"
            )
        with self._lock:
            self._next_load_status = status

    def take_next_load_status(self) -> str | None:
        with self._lock:
            status, self._next_load_status = self._next_load_status, None
            return status

    def reset(self) -> None:
        with self._lock:
            self._status = self._remaining = 0
            self._mode, self._match, self._code = "before", None, None
            self._slow_seconds, self._slow_remaining = 0.0, 0
            self.throttle_seconds = 0.0
            self._next_load_status = None
            self.injected = 0

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "pending_failures": self._remaining,
                "failure_status": self._status or None,
                "failure_code": self._code,
                "failure_mode": self._mode,
                "failure_match": self._match,
                "throttle_seconds": self.throttle_seconds,
                "next_load_status": self._next_load_status,
                "injected_failures": self.injected,
                "pending_slow_answers": self._slow_remaining,
            }
