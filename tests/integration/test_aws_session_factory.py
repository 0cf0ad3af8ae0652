"""The shared-loader session factory (``[aws] session_factory``) via the provider's hooks, on moto's server.

What must hold: the provider uses it when configured; sessions share botocore's parsed data and nothing else
(each connection keeps its credentials and region); boto3's search paths do not grow with every session; a
connection with ``role_arn`` still assumes the role. The CPU it saves: ``bench/aws_session.py``.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import TEST_REGION


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, endpoint: str, **fields: object) -> str:
    extra = {"endpoint_url": endpoint, "region_name": TEST_REGION, **fields.pop("extra", {})}  # type: ignore[dict-item]
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "aws", **fields, "extra": extra})
    )
    return conn_id


def test_the_provider_uses_it_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.amazon.aws.hooks import base_aws
    from rdfox_pipeline.aws.session_factory import SESSION_FACTORY_PATH, SharedLoaderSessionFactory

    assert base_aws.SessionFactory is SharedLoaderSessionFactory  # tests/conftest.py configures it
    from rdfox_local.stack.stack import SESSION_FACTORY

    assert SESSION_FACTORY == SESSION_FACTORY_PATH  # the local stack names the same class
    # Unset, the provider keeps its own factory: nothing in the package depends on this one.
    monkeypatch.delenv("AIRFLOW__AWS__SESSION_FACTORY")
    assert base_aws.resolve_session_factory() is base_aws.BaseSessionFactory


def test_sessions_share_the_data_but_not_the_credentials_or_region(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from rdfox_pipeline.aws.session_factory import shared_loader

    first = _connection(monkeypatch, "aws_first", aws_endpoint, login="AKIDFIRST", password="first-secret")
    second = _connection(
        monkeypatch,
        "aws_second",
        aws_endpoint,
        login="AKIDSECOND",
        password="second-secret",
        extra={"region_name": "us-west-2"},
    )
    a, b = S3Hook(aws_conn_id=first), S3Hook(aws_conn_id=second)
    session_a, session_b = a.get_session(), b.get_session()
    assert session_a is not session_b
    loader = shared_loader()
    assert session_a._session.get_component("data_loader") is loader
    assert session_b._session.get_component("data_loader") is loader
    assert session_a.get_credentials().access_key == "AKIDFIRST"
    assert session_b.get_credentials().access_key == "AKIDSECOND"
    assert a.conn.meta.region_name == TEST_REGION and b.conn.meta.region_name == "us-west-2"
    # Both clients work against the server, each with its own credentials.
    a.create_bucket(bucket_name="session-factory-a", region_name=TEST_REGION)
    a.load_string("one", key="k", bucket_name="session-factory-a")
    assert b.read_key(key="k", bucket_name="session-factory-a") == "one"


def test_search_paths_do_not_grow_with_every_session(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.amazon.aws.hooks.sns import SnsHook
    from rdfox_pipeline.aws.session_factory import shared_loader

    conn_id = _connection(monkeypatch, "aws_paths", aws_endpoint, login="testing", password="testing")
    SnsHook(aws_conn_id=conn_id).conn  # noqa: B018 - at least one session first
    before = list(shared_loader().search_paths)
    for _ in range(20):
        SnsHook(aws_conn_id=conn_id).conn.list_topics()
    assert shared_loader().search_paths == before
    assert len(before) == len(set(before))


def test_a_role_connection_still_assumes_the_role(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    role = "arn:aws:iam::123456789012:role/session-factory-test"
    conn_id = _connection(
        monkeypatch, "aws_role", aws_endpoint, login="testing", password="testing", extra={"role_arn": role}
    )
    hook = S3Hook(aws_conn_id=conn_id)
    credentials = hook.get_session().get_credentials()
    # moto's STS hands out temporary credentials for the role: not the connection's own key.
    assert credentials.access_key != "testing" and credentials.token
    hook.conn.list_buckets()
