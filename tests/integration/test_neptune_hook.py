"""NeptuneLoaderHook against the emulator over HTTP: calls, retries, give-up bound, SigV4 (sync and async)."""

from __future__ import annotations

import asyncio
import json

import pytest
from rdfox_pipeline.compat import AirflowException, AirflowFailException
from rdfox_pipeline.hooks.neptune_loader import (
    NeptuneLoaderError,
    NeptuneLoaderHook,
    endpoint_from_connection,
)

from tests.conftest import TEST_REGION, free_port
from tests.integration.conftest import (
    NEPTUNE_SIGV4_ACCESS_KEY,
    NEPTUNE_SIGV4_SECRET_KEY,
    NEPTUNE_SIGV4_SESSION_TOKEN,
    TEST_ROLE_ARN,
    neptune_conn_json,
)

pytestmark = pytest.mark.compat  # also run under MWAA's Airflow (make test-compat)

NT = "<http://a/s> <http://a/p> <http://a/o> .\n<http://a/s> <http://a/p> <http://a/o2> .\n"


def fast_hook(**kwargs) -> NeptuneLoaderHook:
    return NeptuneLoaderHook(backoff_base=0.01, backoff_max=0.05, **kwargs)


def start(hook: NeptuneLoaderHook, source: str, **extra) -> str:
    return hook.start_load(
        source=source, format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION, **extra
    )


def test_start_status_list_cancel(neptune_connection, neptune_emulator, s3_source):
    hook = fast_hook()
    source = s3_source({"a.nt": NT})
    load_id = start(hook, source, failOnError=False, queueRequest=True)
    neptune_emulator.wait_for_load(load_id)
    payload = hook.get_load_status(load_id)
    assert payload["overallStatus"]["status"] == "LOAD_COMPLETED"
    assert payload["overallStatus"]["totalRecords"] == 2
    assert "failedFeeds" in payload and "errors" not in payload
    assert hook.list_loads() == [load_id] and hook.list_loads(limit=1) == [load_id]
    neptune_emulator.control("throttle", {"seconds": 10})
    second = start(hook, source, mode="NEW")
    hook.cancel_load(second)
    assert hook.get_load_status(second)["overallStatus"]["status"] == "LOAD_CANCELLED_BY_USER"
    with pytest.raises(ValueError, match="limit"):
        hook.list_loads(limit=0)


def test_loader_400_is_not_retried_and_names_the_problem(neptune_connection, neptune_emulator, s3_source):
    hook = fast_hook()
    with pytest.raises(NeptuneLoaderError) as caught:
        hook.start_load(
            source=s3_source({"a.nt": NT}), format="xml", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION
        )
    assert caught.value.status_code == 400 and caught.value.code == "BadRequestException"
    assert "Invalid format" in str(caught.value)
    assert neptune_emulator.stats()["requests"] == 1
    assert isinstance(caught.value, AirflowFailException)  # nor does the task retry it (issue 13, 6)
    with pytest.raises(ValueError, match="iamRoleArn"):
        hook.start_load(source="s3://x/y/", format="ntriples", region=TEST_REGION)


def test_bursts_of_429_are_retried(neptune_connection, neptune_emulator, s3_source):
    hook = fast_hook(max_attempts=4)
    source = s3_source({"a.nt": NT})
    neptune_emulator.control("faults", {"status": 429, "count": 3})
    load_id = start(hook, source)  # 429: Neptune refused it, so the POST is simply sent again
    neptune_emulator.control("faults", {"status": 429, "count": 3})
    assert hook.get_load_status(load_id)["overallStatus"]["fullUri"] == source
    stats = neptune_emulator.stats()
    assert stats["requests"] == 8 and stats["loader"]["loads_submitted"] == 1


@pytest.mark.parametrize("status", [500, 503, 504])
def test_bursts_of_5xx_before_processing_are_retried(neptune_connection, neptune_emulator, s3_source, status):
    hook = fast_hook(max_attempts=5)
    source = s3_source({"a.nt": NT})
    neptune_emulator.control("faults", {"status": status, "count": 3})
    load_id = start(hook, source)  # each 5xx: look for a load of this source first (none), then POST again
    neptune_emulator.control("faults", {"status": status, "count": 3})
    assert hook.get_load_status(load_id)["overallStatus"]["fullUri"] == source
    stats = neptune_emulator.stats()
    assert stats["loader"]["loads_submitted"] == 1 and stats["faults"]["injected_failures"] == 6
    assert hook.list_loads() == [load_id]


@pytest.mark.parametrize("mode", ["after", "drop"])
def test_post_whose_answer_is_lost_starts_exactly_one_load(
    neptune_connection, neptune_emulator, s3_source, mode
):
    """The cluster started the load but the client saw a 500 (or no answer): no second load is started."""
    hook = fast_hook(max_attempts=3)
    neptune_emulator.control("throttle", {"seconds": 1})
    source = s3_source({"a.nt": NT})
    neptune_emulator.control("faults", {"status": 500, "count": 1, "mode": mode})
    load_id = start(hook, source, queueRequest=True)  # queueRequest: a second POST would be accepted
    assert neptune_emulator.stats()["loader"]["loads_submitted"] == 1
    assert hook.list_loads() == [load_id]
    assert neptune_emulator.wait_for_load(load_id)["overallStatus"]["status"] == "LOAD_COMPLETED"


def test_read_timeout_on_post_does_not_start_a_second_load(neptune_connection, neptune_emulator, s3_source):
    hook = fast_hook(max_attempts=3, read_timeout=0.5)
    source = s3_source({"a.nt": NT})
    neptune_emulator.control("slow-answers", {"seconds": 1.5, "count": 1})
    load_id = start(hook, source, queueRequest=True)
    assert neptune_emulator.stats()["loader"]["loads_submitted"] == 1
    assert neptune_emulator.wait_for_load(load_id)["overallStatus"]["status"] == "LOAD_COMPLETED"


def test_gives_up_after_the_bound(neptune_connection, neptune_emulator):
    hook = fast_hook(max_attempts=3)
    neptune_emulator.control("faults", {"status": 500, "count": 10})
    with pytest.raises(NeptuneLoaderError) as caught:
        hook.list_loads()
    assert caught.value.status_code == 500 and caught.value.code == "InternalFailureException"
    assert neptune_emulator.stats()["requests"] == 3
    assert not isinstance(caught.value, AirflowFailException)  # the task's retries are for these


def test_connection_extras_set_the_retry_bound(neptune_emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEPTUNE_DEFAULT",
        neptune_conn_json(neptune_emulator, max_attempts=2, backoff_base=0.01, backoff_max=0.02),
    )
    neptune_emulator.control("faults", {"status": 503, "count": 10})
    with pytest.raises(NeptuneLoaderError) as caught:
        NeptuneLoaderHook().list_loads()
    assert caught.value.status_code == 503 and neptune_emulator.stats()["requests"] == 2


def test_connection_refused_is_retried_then_fails(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEPTUNE_DEFAULT",
        json.dumps(
            {"conn_type": "neptune", "host": "127.0.0.1", "port": free_port(), "extra": {"use_https": False}}
        ),
    )
    import requests

    with pytest.raises(requests.ConnectionError):
        fast_hook(max_attempts=2, connect_timeout=1).list_loads()


def test_all_error_pages(neptune_connection, neptune_emulator, s3_source):
    hook = fast_hook()
    bad = "".join(f"<http://a/{i}> <bad{i}> <http://a/o> .\n" for i in range(25))
    load_id = start(hook, s3_source({"a.nt": bad + NT}), failOnError=False)
    neptune_emulator.wait_for_load(load_id)
    errors = hook.get_load_errors(load_id, errors_per_page=10)
    assert [e["recordNum"] for e in errors] == list(range(1, 26))


def test_async_status(neptune_connection, neptune_emulator, s3_source):
    hook = fast_hook()
    load_id = start(hook, s3_source({"a.nt": NT}))
    neptune_emulator.wait_for_load(load_id)
    neptune_emulator.control("faults", {"status": 503, "count": 2})
    payload = asyncio.run(fast_hook().aget_load_status(load_id, errors=True))
    assert payload["overallStatus"]["status"] == "LOAD_COMPLETED" and payload["errors"]["errorLogs"] == []


def _iam_connection(emulator, monkeypatch, secret: str = NEPTUNE_SIGV4_SECRET_KEY) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEPTUNE_IAM",
        neptune_conn_json(emulator, iam_auth=True, region=TEST_REGION, aws_conn_id="neptune_signer"),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEPTUNE_SIGNER",
        json.dumps(
            {
                "conn_type": "aws",
                "login": NEPTUNE_SIGV4_ACCESS_KEY,
                "password": secret,
                "extra": {"region_name": TEST_REGION, "aws_session_token": NEPTUNE_SIGV4_SESSION_TOKEN},
            }
        ),
    )
    return "neptune_iam"


def test_iam_auth_signs_sync_and_async_requests(neptune_emulator_sigv4, s3_source, monkeypatch, capfd):
    """Temporary credentials (key, secret, session token) from the AWS connection sign every request."""
    conn_id = _iam_connection(neptune_emulator_sigv4, monkeypatch)
    hook = fast_hook(neptune_conn_id=conn_id)
    load_id = start(hook, s3_source({"a.nt": NT}))
    neptune_emulator_sigv4.wait_for_load(load_id)
    payload = hook.get_load_status(load_id, errors=True, page=1, errors_per_page=5)
    assert payload["overallStatus"]["status"] == "LOAD_COMPLETED"
    payload = asyncio.run(fast_hook(neptune_conn_id=conn_id).aget_load_status(load_id, errors=True))
    assert payload["overallStatus"]["status"] == "LOAD_COMPLETED"
    output = "".join(capfd.readouterr())
    assert NEPTUNE_SIGV4_SECRET_KEY not in output and NEPTUNE_SIGV4_SESSION_TOKEN not in output


def test_badly_signed_hook_is_refused_and_not_retried(neptune_emulator_sigv4, monkeypatch):
    conn_id = _iam_connection(neptune_emulator_sigv4, monkeypatch, secret="not-the-secret")
    with pytest.raises(NeptuneLoaderError) as caught:
        fast_hook(neptune_conn_id=conn_id).list_loads()
    assert caught.value.status_code == 403 and "signature" in str(caught.value)
    with pytest.raises(NeptuneLoaderError) as caught:
        asyncio.run(fast_hook(neptune_conn_id=conn_id).aget_load_status("any-load"))
    assert caught.value.status_code == 403
    assert neptune_emulator_sigv4.stats()["requests"] == 2


def test_unsigned_hook_is_refused_by_an_iam_cluster(neptune_emulator_sigv4, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", neptune_conn_json(neptune_emulator_sigv4))
    with pytest.raises(NeptuneLoaderError) as caught:
        fast_hook().list_loads()
    assert caught.value.status_code == 403 and caught.value.code == "AccessDeniedException"


class _Conn:
    def __init__(self, host, port=None, schema=None, **extra):
        self.conn_id, self.host, self.port, self.schema, self.extra_dejson = "c", host, port, schema, extra


def test_connection_shape(tmp_path):
    ep = endpoint_from_connection(_Conn("cluster.example"))
    assert ep.base_url == "https://cluster.example:8182" and ep.verify is True and not ep.iam_auth
    assert ep.policy == {}
    assert endpoint_from_connection(_Conn("h", 1, "http")).base_url == "http://h:1"
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert endpoint_from_connection(_Conn("h", ca_bundle=str(ca))).verify == str(ca)
    with pytest.raises(AirflowException, match="ca_bundle"):
        endpoint_from_connection(_Conn("h", ca_bundle=str(tmp_path / "missing.pem")))
    policy = endpoint_from_connection(_Conn("h", max_attempts="2", read_timeout=5)).policy
    assert policy == {"max_attempts": 2, "read_timeout": 5.0}
    with pytest.raises(AirflowException, match="max_attempts"):
        endpoint_from_connection(_Conn("h", max_attempts=0))
    with pytest.raises(AirflowException, match="read_timeout"):
        endpoint_from_connection(_Conn("h", read_timeout="soon"))
    assert endpoint_from_connection(_Conn("https://h/", verify="false")).verify is False

    with pytest.raises(AirflowException, match="region"):
        endpoint_from_connection(_Conn("h", iam_auth=True))
    with pytest.raises(AirflowException, match="use_https"):
        endpoint_from_connection(_Conn("h", use_https="perhaps"))
    with pytest.raises(AirflowException, match="host"):
        endpoint_from_connection(_Conn(""))
