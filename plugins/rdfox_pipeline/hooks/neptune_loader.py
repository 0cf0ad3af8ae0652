"""NeptuneLoaderHook: Amazon Neptune's bulk loader API (start, status, errors, list, cancel), sync and async.

Connection ``neptune_default`` (conn type ``neptune``):

- ``host`` (cluster endpoint), ``port`` (default 8182), ``schema`` ``https``/``http`` or extra ``use_https``
  (default true). The host may be left empty (or the connection undefined) when the setting
  NEPTUNE_CLUSTER_ENDPOINT names the endpoint (``host``, ``host:port`` or ``https://host:port``; what it
  leaves out comes from the connection's schema and port, else https and 8182). A connection host and a
  setting that name different endpoints are an error (NeptuneEndpointError), never a silent choice;
- extras: ``iam_auth`` (bool: sign every request with SigV4, service ``neptune-db``), ``region`` (default:
  the hook's ``region_name``), ``aws_conn_id`` (the Airflow AWS connection whose credentials sign, default:
  the hook's ``aws_conn_id``; session tokens and assumed roles work because the Amazon provider resolves
  them), ``verify`` (default true) or ``ca_bundle`` (path); the retry/timeout policy: ``connect_timeout``,
  ``read_timeout``, ``max_attempts``, ``backoff_base``, ``backoff_max`` (see DEFAULT_POLICY).

Every request has a timeout. What is retried follows Neptune's error code as botocore's ``neptunedata``
model declares it (``domain/neptune_errors.py``: ThrottlingException 500 and TooManyRequestsException 429
are throttling, S3Exception and BulkLoadIdNotFoundException are retryable, BadRequestException and the other
400s are not), else the HTTP status (5xx, 408, 429), plus connection failures: exponential backoff with full
jitter (tenacity), a bounded number of times. The POST that starts a load is only re-sent as it is when
it certainly did nothing (a retryable 4xx, connection refused); when its outcome is unknown (5xx,
ThrottlingException included, timeout, lost answer) the load it may have started is looked for first, so a
retry never starts a second load.
Credentials and signed headers are never logged. An answer is read up to MAX_RESPONSE_BYTES (a larger one is
an error, not held in memory) and an error's code and message are cut to MAX_ERROR_CHARS: they end up in
task logs, job records and notifications.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlencode

import requests
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from rdfox_pipeline.compat import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    BaseHook,
    get_async_connection,
    run_blocking,
)
from rdfox_pipeline.domain.neptune_endpoint import DEFAULT_PORT, parse_endpoint
from rdfox_pipeline.domain.neptune_errors import is_retryable, is_throttling, refused_before_work
from rdfox_pipeline.domain.statuses import NEPTUNE_ACTIVE_LOAD_STATUSES

ENDPOINT_SETTING = "NEPTUNE_CLUSTER_ENDPOINT"
CLOCK_MARGIN_SECONDS = 5.0  # how far the cluster's clock may be behind ours when matching a load's startTime
SERVICE = "neptune-db"
# A status page with 100 errors is tens of KB; anything near this is not an answer of the loader API.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_ERROR_CHARS = 1000
_READ_CHUNK = 64 * 1024


class NeptuneLoaderError(AirflowException):
    """The loader answered an error (Neptune's ``code`` and ``detailedMessage`` kept)."""

    def __init__(self, status_code: int | None, code: str, message: str, request_id: str | None = None):
        super().__init__(f"Neptune loader error {status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.detailed_message = message
        self.request_id = request_id

    @property
    def retryable(self) -> bool:
        """Sending the same request again may succeed: the code decides (botocore's neptunedata model)."""
        return is_retryable(self.code, self.status_code)

    @property
    def throttling(self) -> bool:
        return is_throttling(self.code, self.status_code)


# Denied answers a new task try can change: it signs with fresh credentials.
_NEW_CREDENTIALS_STATUS = frozenset({401, 403})


class NeptuneRequestRejected(NeptuneLoaderError, AirflowFailException):
    """A 4xx that sending the same request again will not change (BadRequestException,
    MissingParameterException, LoadUrlAccessDeniedException...): the task fails without retries."""


def rejected_for_good(status_code: int | None, code: str | None = None) -> bool:
    """True for an answer no retry changes: a 4xx whose code is not retryable, other than 401 and 403."""
    return (
        status_code is not None
        and 400 <= status_code < 500
        and status_code not in _NEW_CREDENTIALS_STATUS
        and not is_retryable(code, status_code)
    )


class NeptuneEndpointError(AirflowFailException):
    """The connection and NEPTUNE_CLUSTER_ENDPOINT do not name one usable endpoint: a configuration error,
    which retrying the task cannot fix."""


@dataclass(frozen=True)
class NeptuneEndpoint:
    """What the connection says about where and how to talk to Neptune (no secrets in here)."""

    base_url: str
    iam_auth: bool
    region: str | None
    aws_conn_id: str | None
    verify: bool | str  # False, True or a CA bundle path
    # Retry/timeout policy from the connection's extras (None: the hook's argument or default).
    policy: Mapping[str, float] = field(default_factory=dict)
    # Where base_url came from, for the task log ("connection 'neptune_default' host", the setting...).
    source: str = ""


# Connection extras that tune the retry/timeout policy, and the bounds a value must respect.
POLICY_EXTRAS: Mapping[str, tuple[float, float]] = {
    "connect_timeout": (0.1, 600.0),
    "read_timeout": (0.1, 3600.0),
    "max_attempts": (1, 20),
    "backoff_base": (0.0, 60.0),
    "backoff_max": (0.0, 600.0),
}
DEFAULT_POLICY: Mapping[str, float] = {
    "connect_timeout": 10.0,
    "read_timeout": 60.0,
    "max_attempts": 5,
    "backoff_base": 0.5,
    "backoff_max": 30.0,
}


def _policy_value(name: str, value: Any) -> float:
    low, high = POLICY_EXTRAS[name]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if name == "max_attempts" and number != int(number):
        raise ValueError(f"{name}: expected a whole number, got {value!r}")
    if not low <= number <= high:
        raise ValueError(f"{name}: must be between {low:g} and {high:g}, got {value!r}")
    return int(number) if name == "max_attempts" else number


def _truthy(value: Any, default: bool, name: str = "value") -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: expected a boolean, got {value!r}")


def endpoint_from_connection(
    conn: Any | None,
    cluster_endpoint: str | None = None,
    *,
    conn_id: str | None = None,
    origin: str = ENDPOINT_SETTING,
    default_aws_conn_id: str | None = "aws_default",
    default_region: str | None = None,
) -> NeptuneEndpoint:
    """Read a Neptune connection (host, port, schema, extras) and the NEPTUNE_CLUSTER_ENDPOINT value into an
    endpoint; one clear NeptuneEndpointError if they are bad or name different endpoints.

    :param conn: the connection, or None when it is not defined (then the setting must name the endpoint).
    :param cluster_endpoint: the setting's value (or a pinned base URL); used when the connection has no host.
    :param origin: what ``cluster_endpoint`` is, for messages and the log.
    :param default_aws_conn_id: the AWS connection that signs when the extra ``aws_conn_id`` names none (the
        task's ``aws_conn_id``; None: boto3's default credential chain).
    :param default_region: the signing region when the extra ``region`` names none (the task's
        ``region_name``).
    """
    conn_id = conn_id or getattr(conn, "conn_id", "?")
    extra = (conn.extra_dejson if hasattr(conn, "extra_dejson") else {}) if conn is not None else {}
    host = ((conn.host if conn is not None else None) or "").strip()
    setting = (cluster_endpoint or "").strip()
    try:
        iam_auth = _truthy(extra.get("iam_auth"), False, "iam_auth")
        verify: bool | str = extra.get("ca_bundle") or _truthy(extra.get("verify"), True, "verify")
        policy = {k: _policy_value(k, extra[k]) for k in POLICY_EXTRAS if extra.get(k) not in (None, "")}
        schema = ((conn.schema if conn is not None else None) or "").strip().lower()
        if schema in ("http", "https"):
            scheme = schema
        else:
            scheme = "https" if _truthy(extra.get("use_https"), True, "use_https") else "http"
    except ValueError as exc:
        raise NeptuneEndpointError(f"connection {conn_id!r}: bad extra: {exc}") from None
    where = f"connection {conn_id!r}"
    if isinstance(verify, str) and not os.path.isfile(verify):
        raise NeptuneEndpointError(f"{where}: extra ca_bundle {verify!r} is not a readable file")
    region = extra.get("region") or extra.get("region_name") or default_region
    if iam_auth and not region:
        raise NeptuneEndpointError(f"{where}: extra 'region' is required when iam_auth is true")
    port = (conn.port if conn is not None else None) or DEFAULT_PORT
    from_conn = from_setting = None
    if host:
        try:
            from_conn = parse_endpoint(host).base_url(scheme, port)
        except ValueError as exc:
            raise NeptuneEndpointError(f"connection {conn_id!r}: host: {exc}") from None
    if setting:
        try:
            from_setting = parse_endpoint(setting).base_url(scheme, port)
        except ValueError as exc:
            raise NeptuneEndpointError(f"{origin}: {exc}") from None
    if from_conn and from_setting and from_conn != from_setting:
        raise NeptuneEndpointError(
            f"Neptune endpoint conflict: connection {conn_id!r} names {from_conn} but {origin} names "
            f"{from_setting}; clear the connection's host or the setting, or make them name the same endpoint"
        )
    if from_conn:
        source = f"{where} host" + (f" ({origin} agrees)" if from_setting else "")
    elif from_setting:
        source = f"{origin} ({where} {'has no host' if conn is not None else 'is not defined'})"
    elif conn is None:
        raise NeptuneEndpointError(
            f"{where} is not defined and {origin} is not set: nothing names the Neptune endpoint"
        )
    else:
        raise NeptuneEndpointError(
            f"{where}: host (the Neptune cluster endpoint) is required when {origin} is not set"
        )
    return NeptuneEndpoint(
        base_url=from_conn or str(from_setting),
        iam_auth=iam_auth,
        region=region,
        aws_conn_id=extra.get("aws_conn_id", default_aws_conn_id),
        verify=verify,
        policy=policy,
        source=source,
    )


def _query_string(params: Mapping[str, Any]) -> str:
    """Sorted, AWS-encoded query: what is sent is exactly what SigV4 canonicalises."""
    items = sorted((k, _param_value(v)) for k, v in params.items() if v is not None)
    return urlencode(items, quote_via=quote, safe="-_.~")


def _param_value(value: Any) -> str:
    # Neptune's flags are the strings TRUE/FALSE.
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def _body_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return value


def _cut(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def _error_from_response(status: int, text: str, request_id: str | None) -> NeptuneLoaderError:
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = _cut(str(body.get("code") or body.get("status") or "HTTPError"), 100)
        message = str(body.get("detailedMessage") or body.get("errorMessage") or body.get("message") or text)
        request_id = _cut(str(body.get("requestId") or request_id or ""), 100) or None
    else:
        code, message = "HTTPError", _cut(text) or f"HTTP {status}"
    error_class = NeptuneRequestRejected if rejected_for_good(status, code) else NeptuneLoaderError
    return error_class(status, code, _cut(message), request_id)


def _too_large(status: int, request_id: str | None) -> NeptuneLoaderError:
    return NeptuneLoaderError(
        status, "ResponseTooLarge", f"the answer is larger than {MAX_RESPONSE_BYTES} bytes", request_id
    )


def _read_bounded(response: requests.Response) -> bytes:
    """The body of a streamed response, reading no more than MAX_RESPONSE_BYTES + one chunk."""
    chunks: list[bytes] = []
    size = 0
    with response:
        for chunk in response.iter_content(_READ_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise _too_large(response.status_code, response.headers.get("x-amzn-RequestId"))
    return b"".join(chunks)


def _json_answer(status: int, text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise NeptuneLoaderError(
            status, "UnexpectedResponse", f"the answer is not JSON: {_cut(text, 200)}"
        ) from None


async def _aread_bounded(response: Any) -> bytes:
    """aiohttp's counterpart of _read_bounded."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.read(_READ_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _too_large(response.status, response.headers.get("x-amzn-RequestId"))
    return b"".join(chunks)


class NeptuneLoaderHook(BaseHook):
    """Talks to Neptune's ``/loader`` API; ``a``-prefixed methods are the async (trigger) side."""

    conn_name_attr = "neptune_conn_id"
    default_conn_name = "neptune_default"
    conn_type = "neptune"
    hook_name = "Amazon Neptune (bulk loader)"

    def __init__(
        self,
        neptune_conn_id: str = default_conn_name,
        *,
        cluster_endpoint: str | None = None,
        endpoint_origin: str = ENDPOINT_SETTING,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        config: Any = None,
    ) -> None:
        """``cluster_endpoint``: the NEPTUNE_CLUSTER_ENDPOINT setting's value (``endpoint_origin`` names it in
        messages), used when the connection has no host. Policy arguments left None come from the connection's
        extras, else from DEFAULT_POLICY.

        ``aws_conn_id``, ``region_name``, ``verify`` and ``config`` (botocore) are the Amazon provider's: the
        AWS side of IAM auth (the credentials that sign, and the STS calls that may get them). The Neptune
        connection's extras ``aws_conn_id`` and ``region`` win over the first two."""
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = config
        given = {
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "max_attempts": max_attempts,
            "backoff_base": backoff_base,
            "backoff_max": backoff_max,
        }
        try:
            self._policy_args = {k: _policy_value(k, v) for k, v in given.items() if v is not None}
        except ValueError as exc:
            raise ValueError(f"NeptuneLoaderHook: {exc}") from None
        self.neptune_conn_id = neptune_conn_id
        self.cluster_endpoint = cluster_endpoint
        self.endpoint_origin = endpoint_origin
        self._endpoint: NeptuneEndpoint | None = None

    def _policy(self, name: str) -> Any:
        if name in self._policy_args:
            return self._policy_args[name]
        return self.endpoint.policy.get(name, DEFAULT_POLICY[name])

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds: every request has both."""
        return (self._policy("connect_timeout"), self._policy("read_timeout"))

    @property
    def max_attempts(self) -> int:
        return int(self._policy("max_attempts"))

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["login", "password"],
            "relabeling": {"host": "Cluster endpoint", "schema": "Scheme (https/http)"},
            "placeholders": {
                "port": str(DEFAULT_PORT),
                "extra": json.dumps({"iam_auth": True, "region": "eu-west-2", "aws_conn_id": "aws_default"}),
            },
        }

    # -- connection & credentials -----------------------------------------------------------------------
    def _resolve(self, conn: Any | None) -> NeptuneEndpoint:
        endpoint = endpoint_from_connection(
            conn,
            self.cluster_endpoint,
            conn_id=self.neptune_conn_id,
            origin=self.endpoint_origin,
            default_aws_conn_id=self.aws_conn_id,
            default_region=self.region_name,
        )
        self.log.info("Neptune endpoint %s, from %s", endpoint.base_url, endpoint.source)
        return endpoint

    def _connection_or_none(self, error: AirflowNotFoundException) -> None:
        """An undefined connection is fine when the setting names the endpoint (the defaults apply)."""
        if not (self.cluster_endpoint or "").strip():
            raise NeptuneEndpointError(
                f"connection {self.neptune_conn_id!r} is not defined and {self.endpoint_origin} is not set: "
                "nothing names the Neptune endpoint"
            ) from error

    @property
    def endpoint(self) -> NeptuneEndpoint:
        """Where and how to talk to Neptune, resolved once (before the first request)."""
        if self._endpoint is None:
            try:
                conn = self.get_connection(self.neptune_conn_id)
            except AirflowNotFoundException as exc:
                conn = self._connection_or_none(exc)
            self._endpoint = self._resolve(conn)
        return self._endpoint

    async def aendpoint(self) -> NeptuneEndpoint:
        if self._endpoint is None:
            try:
                conn = await get_async_connection(self.neptune_conn_id, hook=self)
            except AirflowNotFoundException as exc:
                conn = self._connection_or_none(exc)
            # Reading the extra masks secrets through the supervisor: blocking (rdfox_pipeline.compat).
            self._endpoint = await run_blocking(self._resolve, conn)
        return self._endpoint

    def _credentials(self) -> Any:
        """Frozen credentials (access key, secret, token) from the AWS connection; blocking (may call STS)."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        endpoint = self.endpoint
        return AwsBaseHook(
            aws_conn_id=endpoint.aws_conn_id,
            client_type="sts",
            verify=self.verify,
            config=self.botocore_config,
        ).get_credentials(endpoint.region)

    @cached_property
    def session(self) -> requests.Session:
        session = requests.Session()
        endpoint = self.endpoint
        session.verify = endpoint.verify
        if endpoint.iam_auth:
            from requests_aws4auth import AWS4Auth

            creds = self._credentials()
            session.auth = AWS4Auth(
                creds.access_key, creds.secret_key, endpoint.region, SERVICE, session_token=creds.token
            )
        return session

    # -- retry policy (shared by both sides) ------------------------------------------------------------
    def _retry_kwargs(self, is_retryable: Callable[[BaseException], bool]) -> dict[str, Any]:
        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            throttled = isinstance(exc, NeptuneLoaderError) and exc.throttling
            self.log.warning(
                "Neptune request %s (attempt %d/%d): %s; retrying",
                "throttled" if throttled else "failed",
                state.attempt_number,
                self.max_attempts,
                exc,
            )

        return {
            "retry": retry_if_exception(is_retryable),
            "stop": stop_after_attempt(self.max_attempts),
            # Full jitter: sleep uniformly in [0, min(max, base * 2^n)].
            "wait": wait_random_exponential(
                multiplier=self._policy("backoff_base"), max=self._policy("backoff_max")
            ),
            "before_sleep": log_retry,
            "reraise": True,
        }

    @staticmethod
    def _sync_retryable(idempotent: bool) -> Callable[[BaseException], bool]:
        """What one call may simply send again: anything retryable for reads and DELETE; for the POST that
        starts a load only what proves no load was started (a retryable 4xx such as TooManyRequestsException,
        a connection never opened)."""

        def check(exc: BaseException) -> bool:
            if isinstance(exc, NeptuneLoaderError):
                return exc.retryable and (idempotent or refused_before_work(exc.code, exc.status_code))
            if isinstance(exc, requests.ConnectTimeout):
                return True  # never reached the server
            if isinstance(exc, requests.ConnectionError | requests.Timeout):
                return idempotent or _refused(exc)
            return False

        return check

    # -- sync side --------------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        url = f"{self.endpoint.base_url}{path}"
        if query:
            url = f"{url}?{_query_string(query)}"
        idempotent = method != "POST"

        def once() -> dict[str, Any]:
            response = self.session.request(
                method,
                url,
                data=json.dumps(body) if body is not None else None,
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=self.timeout,
                # Per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify.
                verify=self.endpoint.verify,
                stream=True,  # read through _read_bounded, never whole
            )
            text = _read_bounded(response).decode("utf-8", errors="replace")
            if response.status_code >= 400:
                raise _error_from_response(
                    response.status_code, text, response.headers.get("x-amzn-RequestId")
                )
            return _json_answer(response.status_code, text)

        for attempt in Retrying(**self._retry_kwargs(self._sync_retryable(idempotent))):
            with attempt:
                return once()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def start_load(self, *, find_existing: Callable[[], str | None] | None = None, **params: Any) -> str:
        """POST /loader with Neptune's parameter names (source, format, iamRoleArn, region...) -> loadId.

        A POST whose outcome is unknown (5xx, read timeout, lost connection) may have started the load: before
        sending it again, ``find_existing()`` (default: an active load of the same source) is asked for the
        load it started, so that transient failures never cause a second load.
        """
        body = {k: _body_value(v) for k, v in params.items() if v is not None}
        missing = [k for k in ("source", "format", "iamRoleArn", "region") if not body.get(k)]
        if missing:
            raise ValueError(f"start_load: missing required parameter(s): {', '.join(missing)}")
        source = str(body["source"])
        # Default: a load of this source that is still active, or that began after our first POST
        # (less a margin for the cluster's clock) -- that one is ours even if it has already ended.
        since = time.time() - CLOCK_MARGIN_SECONDS
        finder = find_existing or (
            lambda: self.find_load(source, NEPTUNE_ACTIVE_LOAD_STATUSES, started_since=since)
        )
        for attempt in Retrying(**self._retry_kwargs(_outcome_unknown)):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    found = finder()
                    if found:
                        self.log.info(
                            "Neptune load %s of %s was started by an earlier attempt", found, source
                        )
                        return found
                answer = self._request("POST", "/loader", body=body)
        load_id = (answer.get("payload") or {}).get("loadId")
        if not load_id:
            raise NeptuneLoaderError(200, "UnexpectedResponse", "POST /loader answered without a loadId")
        self.log.info("Neptune load %s started for %s", load_id, source)
        return str(load_id)

    def find_load(
        self,
        source: str,
        statuses: Collection[str],
        limit: int = 100,
        started_since: float | None = None,
    ) -> str | None:
        """The most recent load of ``source`` (its ``fullUri``) whose status is in ``statuses`` or, with
        ``started_since`` (epoch seconds), that began running at or after that time; None if there is none.

        Asked with details: Neptune's answer without them may leave ``startTime`` out (Get-Status examples).
        """
        for load_id in self.list_loads(limit=limit):
            try:
                overall = (
                    self.get_load_status(load_id, details=started_since is not None).get("overallStatus")
                    or {}
                )
            except NeptuneLoaderError as exc:
                if exc.status_code == 404:
                    continue  # forgotten meanwhile (Neptune keeps only the last 1,024 loads)
                raise
            if overall.get("fullUri") != source:
                continue
            started = overall.get("startTime")
            recent = (
                started_since is not None and isinstance(started, int | float) and started >= started_since
            )
            if overall.get("status") in statuses or recent:
                return load_id
        return None

    @staticmethod
    def _status_query(
        details: bool, errors: bool, page: int | None, errors_per_page: int | None
    ) -> dict[str, Any]:
        return {"details": details, "errors": errors, "page": page, "errorsPerPage": errors_per_page}

    def get_load_status(
        self,
        load_id: str,
        details: bool = True,
        errors: bool = False,
        page: int | None = None,
        errors_per_page: int | None = None,
    ) -> dict[str, Any]:
        """GET /loader/{loadId}: the ``payload`` (feedCount, overallStatus, failedFeeds, errors)."""
        answer = self._request(
            "GET",
            f"/loader/{quote(load_id, safe='')}",
            query=self._status_query(details, errors, page, errors_per_page),
        )
        return dict(answer.get("payload") or {})

    def get_load_errors(
        self, load_id: str, errors_per_page: int = 100, max_errors: int = 10_000
    ) -> list[dict]:
        """Every error log entry of a load, all pages (Neptune keeps at most the last 10,000)."""
        collected: list[dict] = []
        page = 1
        while len(collected) < max_errors:
            payload = self.get_load_status(
                load_id, details=False, errors=True, page=page, errors_per_page=errors_per_page
            )
            logs = list((payload.get("errors") or {}).get("errorLogs") or [])
            collected.extend(logs)
            if len(logs) < errors_per_page:
                break
            page += 1
        return collected[:max_errors]

    def list_loads(self, limit: int | None = None, include_queued: bool = True) -> list[str]:
        """GET /loader: load ids, queued ones first, then the most recent."""
        if limit is not None and not 1 <= limit <= 100:
            raise ValueError(f"limit must be between 1 and 100, got {limit}")
        answer = self._request("GET", "/loader", query={"limit": limit, "includeQueuedLoads": include_queued})
        return [str(i) for i in (answer.get("payload") or {}).get("loadIds") or []]

    def cancel_load(self, load_id: str) -> None:
        """DELETE /loader/{loadId}: the load ends LOAD_CANCELLED_BY_USER."""
        self._request("DELETE", f"/loader/{quote(load_id, safe='')}")
        self.log.info("Neptune load %s cancelled", load_id)

    # -- async side (triggerer) -------------------------------------------------------------------------
    async def _asigned_headers(self, method: str, url: str, body: bytes | None) -> dict[str, str]:
        endpoint = await self.aendpoint()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if not endpoint.iam_auth:
            return headers
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        # Credential resolution reads the AWS connection and may call STS: off the event loop.
        creds = await run_blocking(self._credentials)
        request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(creds, SERVICE, endpoint.region).add_auth(request)
        return dict(request.headers.items())

    async def _arequest(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        import aiohttp
        from yarl import URL

        endpoint = await self.aendpoint()
        url = f"{endpoint.base_url}{path}"
        if query:
            url = f"{url}?{_query_string(query)}"
        ssl_arg: Any = True
        if endpoint.verify is False:
            ssl_arg = False
        elif isinstance(endpoint.verify, str):
            ssl_arg = await asyncio.to_thread(ssl.create_default_context, cafile=endpoint.verify)
        timeout = aiohttp.ClientTimeout(sock_connect=self.timeout[0], total=self.timeout[0] + self.timeout[1])

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, NeptuneLoaderError):
                return exc.retryable
            return isinstance(exc, aiohttp.ClientConnectionError | asyncio.TimeoutError)

        async for attempt in AsyncRetrying(**self._retry_kwargs(retryable)):
            with attempt:
                headers = await self._asigned_headers(method, url, None)  # fresh X-Amz-Date per attempt
                async with (
                    aiohttp.ClientSession(timeout=timeout) as session,
                    session.request(method, URL(url, encoded=True), headers=headers, ssl=ssl_arg) as response,
                ):
                    text = (await _aread_bounded(response)).decode("utf-8", errors="replace")
                    if response.status >= 400:
                        raise _error_from_response(
                            response.status, text, response.headers.get("x-amzn-RequestId")
                        )
                    return _json_answer(response.status, text)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def aget_load_status(
        self,
        load_id: str,
        details: bool = True,
        errors: bool = False,
        page: int | None = None,
        errors_per_page: int | None = None,
    ) -> dict[str, Any]:
        answer = await self._arequest(
            "GET",
            f"/loader/{quote(load_id, safe='')}",
            query=self._status_query(details, errors, page, errors_per_page),
        )
        return dict(answer.get("payload") or {})


def _outcome_unknown(exc: BaseException) -> bool:
    """A failed POST that may nevertheless have been carried out (the server got it; its answer is lost).
    A 500 ThrottlingException counts: the load it may have started is looked for before posting again."""
    if isinstance(exc, NeptuneLoaderError):
        return exc.retryable and exc.status_code is not None and exc.status_code >= 500
    if isinstance(exc, requests.ConnectTimeout):
        return False  # already retried by _request: the server never saw it
    return isinstance(exc, requests.ConnectionError | requests.Timeout) and not _refused(exc)


def _refused(exc: BaseException) -> bool:
    """True when the connection was refused or never opened (nothing reached the server)."""
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectionRefusedError):
            return True
        # requests wraps urllib3's MaxRetryError (args[0]), which keeps the cause in .reason.
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [a for a in current.args if isinstance(a, BaseException)]
        pending.extend(e for e in linked if isinstance(e, BaseException))
    return False
