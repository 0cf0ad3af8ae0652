"""Which Neptune cluster an endpoint names, its writer, the fallback to the host (pure + stubbed boto3)."""

from __future__ import annotations

import logging

import boto3
import pytest
from botocore.stub import Stubber
from rdfox_pipeline.aws.neptune_cluster import find_writer_instance
from rdfox_pipeline.domain.neptune_cluster import cluster_id_from_endpoint, endpoint_host, writer_instance

WRITER_ENDPOINT = "graph-prod.cluster-c1a2b3c4d5e6.eu-west-2.neptune.amazonaws.com"


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        (f"https://{WRITER_ENDPOINT}:8182", WRITER_ENDPOINT),
        (f"{WRITER_ENDPOINT.upper()}:8182", WRITER_ENDPOINT),
        ("http://127.0.0.1:8182/loader", "127.0.0.1"),
        ("localhost", "localhost"),
        ("https://[::1]:8182", "[::1]"),
    ],
)
def test_endpoint_host(endpoint: str, host: str) -> None:
    assert endpoint_host(endpoint) == host


@pytest.mark.parametrize(
    ("endpoint", "cluster"),
    [
        (f"https://{WRITER_ENDPOINT}:8182", "graph-prod"),
        ("graph-prod.cluster-ro-c1a2b3c4d5e6.eu-west-2.neptune.amazonaws.com", "graph-prod"),
        ("g1.cluster-abc.cn-north-1.neptune.amazonaws.com.cn", "g1"),
        # A custom endpoint's first label is the endpoint's name, an instance endpoint names the instance.
        ("analytics.cluster-custom-c1a2b3c4d5e6.eu-west-2.neptune.amazonaws.com", None),
        ("graph-prod-w1.c1a2b3c4d5e6.eu-west-2.neptune.amazonaws.com", None),
        ("http://127.0.0.1:8182", None),
    ],
)
def test_cluster_id_from_endpoint(endpoint: str, cluster: str | None) -> None:
    assert cluster_id_from_endpoint(endpoint) == cluster


def test_writer_instance_is_the_member_flagged_writer() -> None:
    members = [
        {"DBInstanceIdentifier": "r1", "IsClusterWriter": False},
        {"DBInstanceIdentifier": "w1", "IsClusterWriter": True},
    ]
    assert writer_instance({"DBClusters": [{"DBClusterMembers": members}]}) == "w1"
    assert writer_instance({"DBClusters": [{"DBClusterMembers": members[:1]}]}) is None
    assert writer_instance({}) is None


def _stubbed_neptune() -> tuple[object, Stubber]:
    client = boto3.client("neptune", region_name="eu-west-2", endpoint_url="http://127.0.0.1:9")
    return client, Stubber(client)


def test_no_permission_falls_back_to_the_host_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    client, stub = _stubbed_neptune()
    stub.add_client_error(
        "describe_db_clusters",
        service_error_code="AccessDenied",
        service_message="not authorized to perform: rds:DescribeDBClusters",
        http_status_code=403,
        expected_params={"DBClusterIdentifier": "graph-prod"},
    )
    with stub, caplog.at_level(logging.WARNING):
        got = find_writer_instance(lambda: client, f"https://{WRITER_ENDPOINT}:8182")
    assert got == WRITER_ENDPOINT
    assert "cannot describe cluster graph-prod" in caplog.text and "AccessDenied" in caplog.text
    stub.assert_no_pending_responses()


def test_no_cluster_id_means_no_call() -> None:
    def never() -> object:
        raise AssertionError("no describe call without a cluster id")

    assert find_writer_instance(never, "http://127.0.0.1:8182") == "127.0.0.1"


def test_explicit_cluster_id_wins_over_the_endpoint() -> None:
    client, stub = _stubbed_neptune()
    stub.add_response(
        "describe_db_clusters",
        {"DBClusters": [{"DBClusterMembers": [{"DBInstanceIdentifier": "w9", "IsClusterWriter": True}]}]},
        expected_params={"DBClusterIdentifier": "other"},
    )
    with stub:
        assert find_writer_instance(lambda: client, WRITER_ENDPOINT, cluster_id="other") == "w9"
