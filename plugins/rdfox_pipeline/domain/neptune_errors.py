"""Neptune's data-plane error codes: the HTTP status botocore's ``neptunedata`` model declares for each, and
whether sending the same request again may succeed (pure; the hook and the trigger decide with it).

``retryable`` is the model's ``retryable`` trait (botocore's standard retry mode retries exactly those), and
``throttling`` the codes botocore treats as throttling. A test holds this table to the installed model. A code
not listed here is judged by its HTTP status (``retryable_status``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    http_status: int
    retryable: bool = False
    throttling: bool = False


NEPTUNE_ERROR_CODES: Mapping[str, ErrorCode] = {
    # Loader API (StartLoaderJob, GetLoaderJobStatus, ListLoaderJobs, CancelLoaderJob) and the engine.
    "AccessDeniedException": ErrorCode(403),
    "BadRequestException": ErrorCode(400),
    "BulkLoadIdNotFoundException": ErrorCode(404, retryable=True),
    "CancelledByUserException": ErrorCode(500),
    "ClientTimeoutException": ErrorCode(408, retryable=True),
    "ConcurrentModificationException": ErrorCode(500, retryable=True),
    "ConstraintViolationException": ErrorCode(400, retryable=True),
    "FailureByQueryException": ErrorCode(500, retryable=True),
    "IllegalArgumentException": ErrorCode(400),
    "InternalFailureException": ErrorCode(500),
    "InvalidArgumentException": ErrorCode(400),
    "InvalidParameterException": ErrorCode(400),
    "LoadUrlAccessDeniedException": ErrorCode(400),
    "MalformedQueryException": ErrorCode(400),
    "MemoryLimitExceededException": ErrorCode(500, retryable=True),
    "MethodNotAllowedException": ErrorCode(405),
    "MissingParameterException": ErrorCode(400),
    "PreconditionsFailedException": ErrorCode(400),
    "QueryLimitExceededException": ErrorCode(500, retryable=True),
    "S3Exception": ErrorCode(400, retryable=True),
    "ServerShutdownException": ErrorCode(500),
    "ThrottlingException": ErrorCode(500, retryable=True, throttling=True),
    "TimeLimitExceededException": ErrorCode(500, retryable=True),
    "TooManyRequestsException": ErrorCode(429, retryable=True, throttling=True),
    "UnsupportedOperationException": ErrorCode(400),
}

# Statuses worth another attempt when the code says nothing: throttling, server errors and gateways.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def retryable_status(status: int | None) -> bool:
    """No status (no answer at all) or a transient one."""
    return status is None or status in RETRYABLE_STATUS


def is_retryable(code: str | None, status: int | None) -> bool:
    """May the same request succeed if sent again? The code decides when the model knows it; a 5xx is always
    worth another attempt (the user guide's engine error table says "OK to retry" for every 500 code)."""
    known = NEPTUNE_ERROR_CODES.get(code or "")
    if known is None:
        return retryable_status(status)
    return known.retryable or (status is not None and status >= 500)


def is_throttling(code: str | None, status: int | None) -> bool:
    """Neptune asked us to slow down: ThrottlingException (500), TooManyRequestsException or a bare 429."""
    known = NEPTUNE_ERROR_CODES.get(code or "")
    return known.throttling if known is not None else status == 429


def refused_before_work(code: str | None, status: int | None) -> bool:
    """The request certainly did nothing, so even the POST that starts a load may be sent again as it is:
    a 4xx is the sender's fault (Neptune refused it). A 5xx, ThrottlingException included, may come from a
    gateway after the cluster acted: the start request looks for its load before it is sent again."""
    return status is not None and 400 <= status < 500
