"""TLS verification is on by default for Neptune: against a real HTTPS server with a self-signed certificate,
the hook (sync and async) refuses the connection unless the connection names the CA bundle (or explicitly
turns verification off). A "Neptune" whose certificate we cannot verify must never see a signed request.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port

PAYLOAD = {"status": "200 OK", "payload": {"overallStatus": {"status": "LOAD_COMPLETED"}}}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(PAYLOAD).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no system trust store knows (made by openssl, valid one day)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def https_server(self_signed: tuple[Path, Path]) -> Iterator[int]:
    cert, key = self_signed
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def _connect(monkeypatch: pytest.MonkeyPatch, port: int, **extra: Any) -> Any:
    from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook

    # No scheme, no use_https: the defaults are what is under test.
    conn = {"conn_type": "neptune", "host": "127.0.0.1", "port": port, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", json.dumps(conn))
    return NeptuneLoaderHook(max_attempts=1, connect_timeout=5, read_timeout=5)


def test_defaults_are_https_with_verification(monkeypatch: pytest.MonkeyPatch, https_server: int) -> None:
    hook = _connect(monkeypatch, https_server)
    assert hook.endpoint.base_url.startswith("https://")
    assert hook.endpoint.verify is True
    assert hook.session.verify is True


def test_sync_refuses_an_unverifiable_certificate(monkeypatch: pytest.MonkeyPatch, https_server: int) -> None:
    hook = _connect(monkeypatch, https_server)
    with pytest.raises(requests.exceptions.SSLError):
        hook.get_load_status("some-load")


def test_async_refuses_an_unverifiable_certificate(
    monkeypatch: pytest.MonkeyPatch, https_server: int
) -> None:
    import aiohttp

    hook = _connect(monkeypatch, https_server)
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        asyncio.run(hook.aget_load_status("some-load"))


def test_environment_ca_bundle_does_not_override_the_connection(
    monkeypatch: pytest.MonkeyPatch, https_server: int, self_signed: tuple[Path, Path]
) -> None:
    """requests lets REQUESTS_CA_BUNDLE replace session.verify; the hook must pass verify per request."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    cert, _key = self_signed
    hook = _connect(monkeypatch, https_server, ca_bundle=str(cert))
    assert hook.get_load_status("some-load")["overallStatus"]["status"] == "LOAD_COMPLETED"


def test_ca_bundle_makes_it_verifiable(
    monkeypatch: pytest.MonkeyPatch, https_server: int, self_signed: tuple[Path, Path]
) -> None:
    cert, _key = self_signed
    hook = _connect(monkeypatch, https_server, ca_bundle=str(cert))
    assert hook.get_load_status("some-load")["overallStatus"]["status"] == "LOAD_COMPLETED"
    hook = _connect(monkeypatch, https_server, ca_bundle=str(cert))
    status = asyncio.run(hook.aget_load_status("some-load"))
    assert status["overallStatus"]["status"] == "LOAD_COMPLETED"


def test_verification_off_only_when_asked(monkeypatch: pytest.MonkeyPatch, https_server: int) -> None:
    hook = _connect(monkeypatch, https_server, verify=False)
    assert hook.get_load_status("some-load")["overallStatus"]["status"] == "LOAD_COMPLETED"
    hook = _connect(monkeypatch, https_server, verify=False)
    status = asyncio.run(hook.aget_load_status("some-load"))
    assert status["overallStatus"]["status"] == "LOAD_COMPLETED"
    # A typo'd value must not silently mean "off".
    from rdfox_pipeline.compat import AirflowException

    hook = _connect(monkeypatch, https_server, verify="nope")
    with pytest.raises(AirflowException, match="verify"):
        _ = hook.endpoint
