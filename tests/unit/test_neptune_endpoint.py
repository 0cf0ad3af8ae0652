"""NEPTUNE_CLUSTER_ENDPOINT's forms, and how it combines with the ``neptune_default`` connection's host."""

from __future__ import annotations

import pytest
from rdfox_pipeline.domain.neptune_endpoint import EndpointAddress, parse_endpoint
from rdfox_pipeline.hooks.neptune_loader import NeptuneEndpointError, endpoint_from_connection

CLUSTER = "db.cluster-abc.eu-west-2.neptune.amazonaws.com"


@pytest.mark.parametrize(
    ("value", "address", "url"),
    [
        (CLUSTER, EndpointAddress(CLUSTER), f"https://{CLUSTER}:8182"),
        (f"{CLUSTER}:8183", EndpointAddress(CLUSTER, 8183), f"https://{CLUSTER}:8183"),
        (f"https://{CLUSTER}:8182/", EndpointAddress(CLUSTER, 8182, "https"), f"https://{CLUSTER}:8182"),
        ("HTTP://Neptune-Emulator:8182", EndpointAddress("Neptune-Emulator", 8182, "http"),
         "http://neptune-emulator:8182"),
        ("http://127.0.0.1", EndpointAddress("127.0.0.1", None, "http"), "http://127.0.0.1:8182"),
        ("[::1]:9000", EndpointAddress("[::1]", 9000), "https://[::1]:9000"),
        ("  neptune_emulator  ", EndpointAddress("neptune_emulator"), "https://neptune_emulator:8182"),
    ],
)  # fmt: skip
def test_accepted_forms_and_their_defaults(value: str, address: EndpointAddress, url: str) -> None:
    assert parse_endpoint(value) == address
    assert address.base_url() == url


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must name a host"),
        ("ftp://h:21", "scheme must be https or http"),
        ("h:", "port is empty"),
        ("h:port", "could not be cast"),
        ("h:0", "between 1 and 65535"),
        ("h:70000", "out of range"),
        ("https://h:8182/sparql", "no path or query"),
        ("h?x=1", "no path or query"),
        ("my host", "spaces"),
        ("-h", "not a host name"),
    ],
)
def test_bad_values_say_what_is_wrong(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_endpoint(value)


def test_a_password_in_the_value_is_refused_and_never_echoed() -> None:
    with pytest.raises(ValueError, match="user name or password") as caught:
        parse_endpoint("https://admin:s3cret@h:8182")
    assert "s3cret" not in str(caught.value)


class Conn:
    def __init__(self, host=None, port=None, schema=None, **extra):
        self.conn_id, self.host, self.port, self.schema, self.extra_dejson = (
            "neptune_default",
            host,
            port,
            schema,
            extra,
        )


def test_the_setting_fills_a_host_less_connection_which_keeps_scheme_port_and_auth() -> None:
    conn = Conn(port=8183, schema="http", iam_auth=True, region="eu-west-2")
    endpoint = endpoint_from_connection(conn, CLUSTER)
    assert (
        endpoint.base_url == f"http://{CLUSTER}:8183" and endpoint.iam_auth and endpoint.region == "eu-west-2"
    )
    assert endpoint.source == "NEPTUNE_CLUSTER_ENDPOINT (connection 'neptune_default' has no host)"
    # What the value gives wins over the connection's fields.
    assert endpoint_from_connection(conn, f"https://{CLUSTER}:8182").base_url == f"https://{CLUSTER}:8182"


def test_no_connection_at_all_uses_the_setting_with_the_defaults() -> None:
    endpoint = endpoint_from_connection(None, CLUSTER, conn_id="neptune_default")
    assert endpoint.base_url == f"https://{CLUSTER}:8182" and not endpoint.iam_auth
    assert endpoint.source == "NEPTUNE_CLUSTER_ENDPOINT (connection 'neptune_default' is not defined)"
    with pytest.raises(NeptuneEndpointError, match="is not defined and NEPTUNE_CLUSTER_ENDPOINT is not set"):
        endpoint_from_connection(None, None, conn_id="neptune_default")


def test_connection_host_alone_and_agreeing_with_the_setting() -> None:
    assert endpoint_from_connection(Conn(CLUSTER)).source == "connection 'neptune_default' host"
    for same in (CLUSTER.upper(), f"{CLUSTER}:8182", f"https://{CLUSTER}:8182"):
        endpoint = endpoint_from_connection(Conn(CLUSTER), same)
        assert endpoint.base_url == f"https://{CLUSTER}:8182"
        assert endpoint.source == "connection 'neptune_default' host (NEPTUNE_CLUSTER_ENDPOINT agrees)"


@pytest.mark.parametrize(
    ("conn", "setting", "named"),
    [
        (Conn("old-cluster.example"), CLUSTER, "old-cluster.example:8182 but NEPTUNE_CLUSTER_ENDPOINT names https://db."),
        (Conn(CLUSTER), f"{CLUSTER}:8183", ":8183"),
        (Conn(CLUSTER, schema="http"), f"https://{CLUSTER}", f"names http://{CLUSTER}:8182 but"),
    ],
)  # fmt: skip
def test_a_connection_and_a_setting_naming_different_endpoints_is_an_error(conn, setting, named) -> None:
    with pytest.raises(NeptuneEndpointError, match="Neptune endpoint conflict") as caught:
        endpoint_from_connection(conn, setting)
    assert named in str(caught.value) and "connection 'neptune_default'" in str(caught.value)


def test_errors_name_their_origin() -> None:
    with pytest.raises(NeptuneEndpointError, match=r"^NEPTUNE_CLUSTER_ENDPOINT: 'h:x'"):
        endpoint_from_connection(Conn(), "h:x")
    with pytest.raises(NeptuneEndpointError, match=r"^connection 'neptune_default': host: "):
        endpoint_from_connection(Conn("https://h/path"))
    with pytest.raises(NeptuneEndpointError, match="required when NEPTUNE_CLUSTER_ENDPOINT is not set"):
        endpoint_from_connection(Conn("  "), "")
    with pytest.raises(NeptuneEndpointError, match="the load's endpoint names"):
        endpoint_from_connection(Conn("a.example"), "https://b.example:8182", origin="the load's endpoint")
