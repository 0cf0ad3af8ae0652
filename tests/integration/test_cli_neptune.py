"""`rdfox-pipeline neptune load|status|list|cancel` against the Neptune emulator over HTTP, S3 and SSM on
moto's server: once as a user runs it (a subprocess with only the AWS environment and the connection), the
rest in-process through ``cli.main.main`` (same code, without Airflow's start-up each time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rdfox_pipeline.cli.main import main

from tests.conftest import TEST_REGION, free_port
from tests.integration.conftest import (
    NEPTUNE_SIGV4_ACCESS_KEY,
    NEPTUNE_SIGV4_SECRET_KEY,
    NEPTUNE_SIGV4_SESSION_TOKEN,
    TEST_ROLE_ARN,
    NeptuneEmulator,
)
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

# Settings come from SSM then the environment: every test owns the SSM settings path.
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_settings", "cli_stdout_only")]
CLI = [str(Path(sys.executable).with_name("rdfox-pipeline"))]
NT = "<http://a/s> <http://a/p> <http://a/o> .\n<http://a/s> <http://a/p> <http://a/o2> .\n"
BAD = "<http://a/s> <not an iri> <http://a/o> .\n"


def hostless(monkeypatch: pytest.MonkeyPatch, **extra: object) -> str:
    """``neptune_default`` without a host (plain HTTP, one attempt per call)."""
    conn = json.dumps({"conn_type": "neptune", "extra": {"use_https": False, "max_attempts": 1, **extra}})
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", conn)
    return conn


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, isolated_settings: Callable[[str, str], None]) -> Callable:
    """The settings a load needs: role in SSM, format in the environment (both layers are read)."""
    isolated_settings("NEPTUNE_IAM_ROLE_ARN", TEST_ROLE_ARN)
    monkeypatch.setenv("NEPTUNE_SOURCE_FORMAT", "ntriples")
    monkeypatch.setenv("NEPTUNE_LOAD_POLL_SECONDS", "1")
    return isolated_settings


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["neptune", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_load_and_wait_as_a_user_runs_it(
    neptune_emulator: NeptuneEmulator, s3_source: Callable[..., str], settings: Callable, tmp_path: Path
) -> None:
    """A host-less connection, NEPTUNE_CLUSTER_ENDPOINT and NEPTUNE_PARALLELISM from SSM, options winning."""
    settings("NEPTUNE_CLUSTER_ENDPOINT", f"127.0.0.1:{neptune_emulator.port}")
    settings("NEPTUNE_PARALLELISM", "LOW")
    source = s3_source({"a.nt": NT})
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        HOME=str(tmp_path),
        AIRFLOW_CONN_NEPTUNE_DEFAULT=json.dumps({"conn_type": "neptune", "schema": "http"}),
    )
    result = subprocess.run(
        [*CLI, "neptune", "load", source, "--mode", "new", "--fail-on-error", "--wait"],
        capture_output=True, text=True, env=env, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    load_id = lines[0]
    assert lines[1] == f"load {load_id}: LOAD_COMPLETED" and f"  source:   {source}" in lines
    assert "  records:  2 (0 duplicates)" in result.stdout and "Traceback" not in result.stderr
    assert "Neptune endpoint" not in result.stdout + result.stderr  # the hook's log only with --verbose
    sent = neptune_emulator.load_request(load_id)
    assert (sent["format"], sent["iamRoleArn"], sent["region"]) == ("ntriples", TEST_ROLE_ARN, TEST_REGION)
    assert (sent["parallelism"], sent["mode"], sent["failOnError"]) == ("LOW", "NEW", "TRUE")
    assert sent["queueRequest"] == "TRUE" and sent["updateSingleCardinalityProperties"] == "TRUE"


def test_status_list_and_cancel_human_and_json(
    neptune_emulator: NeptuneEmulator,
    neptune_connection: str,
    s3_source: Callable[..., str],
    settings: Callable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = s3_source({"a.nt": NT})
    code, out, _ = cli(capsys, "load", good, "--json")
    assert code == 0
    started = json.loads(out)
    assert started["endpoint"] == f"http://127.0.0.1:{neptune_emulator.port}"
    done = started["loadId"]
    neptune_emulator.wait_for_load(done)

    code, out, _ = cli(capsys, "load", s3_source({"a.nt": BAD + NT}), "--fail-on-error")
    failed = out.strip()
    neptune_emulator.wait_for_load(failed)
    code, out, _ = cli(capsys, "status", failed)
    assert code == 0 and out.splitlines()[0] == f"load {failed}: LOAD_FAILED"
    assert "1 parsing" in out and "  error: PARSING_ERROR:" in out  # details=true, errors=true
    code, out, _ = cli(capsys, "status", done, "--json")
    payload = json.loads(out)
    assert payload["overallStatus"]["status"] == "LOAD_COMPLETED" and payload["errors"]["errorLogs"] == []
    assert "failedFeeds" in payload and payload["feedCount"] == [{"LOAD_COMPLETED": 1}]

    neptune_emulator.control("throttle", {"seconds": 30})
    code, out, _ = cli(capsys, "load", good, "--mode", "NEW")
    running = out.strip()
    code, out, _ = cli(capsys, "list")
    table = out.splitlines()
    assert table[0].split() == ["LOAD", "ID", "STATUS", "RECORDS", "SOURCE"] and len(table) == 4
    assert any(line.startswith(running) and "LOAD_IN_PROGRESS" in line for line in table)
    code, _, err = cli(capsys, "list", "-v")
    assert f"Neptune endpoint {started['endpoint']}, from connection 'neptune_default' host" in err
    code, out, _ = cli(capsys, "list", "--json", "--limit", "2")
    assert [row["loadId"] for row in json.loads(out)] == neptune_emulator.list_load_ids()[:2]

    code, out, _ = cli(capsys, "cancel", running)
    assert (code, out) == (0, f"cancelled {running}: LOAD_CANCELLED_BY_USER\n")
    code, out, err = cli(capsys, "cancel", running)  # it already ended: the loader's own error
    assert code == 2 and out == ""
    assert err == (
        "rdfox-pipeline: error: Neptune loader error 404 BulkLoadIdNotFoundException: The load with id = "
        f"{running} does not exist or not active\n"
    )


def test_expected_errors_are_one_line_and_nothing_is_sent(
    neptune_emulator: NeptuneEmulator,
    neptune_connection: str,
    s3_source: Callable[..., str],
    isolated_settings: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("NEPTUNE_IAM_ROLE_ARN", raising=False)
    cases = [
        (["load", "s3://b-ucket/x/"], "no IAM role for Neptune to read S3 with: give --role-arn or set"),
        (["load", "b-ucket/x/", "--role-arn", TEST_ROLE_ARN], "S3_PREFIX: 'b-ucket/x/' is not an S3 URI"),
        (["load", "s3://B_/x", "--role-arn", TEST_ROLE_ARN], "S3_PREFIX: 's3://B_/x': bucket"),
        (["load", "s3://b-ucket/x/", "--role-arn", "admin"], "--role-arn: 'admin' is not an IAM role ARN"),
        (["load", "s3://b-ucket/", "--role-arn", TEST_ROLE_ARN, "--format", "xml"], "--format: must be one"),
        (["load", "s3://b-ucket/", "--role-arn", TEST_ROLE_ARN, "--endpoint", "https://h/x"],
         "--endpoint: 'https://h/x': give only scheme, host and port"),
        (["status", "a", "--endpoint", f"http://127.0.0.1:{free_port()}"], "Neptune endpoint conflict"),
    ]  # fmt: skip
    for args, message in cases:
        code, out, err = cli(capsys, *args)
        assert code == 2 and out == "" and len(err.splitlines()) == 1, (args, err)
        assert err.startswith(f"rdfox-pipeline: error: {message}"), (args, err)
    assert neptune_emulator.stats()["requests"] == 0

    code, _, err = cli(capsys, "status", "no-such-load")
    assert code == 2 and err == (
        "rdfox-pipeline: error: Neptune loader error 404 BulkLoadIdNotFoundException: "
        "The load with id = no-such-load is not found\n"
    )
    source = s3_source({"a.nt": NT})
    code, _, err = cli(capsys, "load", source, "--role-arn", TEST_ROLE_ARN, "--region", "us-east-1")
    assert code == 2 and "400 BadRequestException: Bucket is not in provided Region (us-east-1)" in err
    isolated_settings("NEPTUNE_PARALLELISM", "TURBO")
    code, _, err = cli(capsys, "list")
    assert code == 2 and err.startswith(
        "rdfox-pipeline: error: settings: NEPTUNE_PARALLELISM: must be one of"
    )


def test_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hostless(monkeypatch)
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = cli(capsys, "list", "--endpoint", url)
    assert code == 2 and err.startswith(
        f"rdfox-pipeline: error: cannot reach Neptune at {url}: ConnectionError"
    )
    assert len(err.splitlines()) == 1


def test_sigv4_connection_with_the_endpoint_from_the_setting(
    neptune_emulator_sigv4: NeptuneEmulator,
    s3_source: Callable[..., str],
    settings: Callable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The emulator checks every request's signature (temporary credentials from the AWS connection)."""
    hostless(monkeypatch, iam_auth=True, region=TEST_REGION, aws_conn_id="neptune_signer")
    signer = {
        "conn_type": "aws",
        "login": NEPTUNE_SIGV4_ACCESS_KEY,
        "password": NEPTUNE_SIGV4_SECRET_KEY,
        "extra": {"region_name": TEST_REGION, "aws_session_token": NEPTUNE_SIGV4_SESSION_TOKEN},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_SIGNER", json.dumps(signer))
    settings("NEPTUNE_CLUSTER_ENDPOINT", f"http://127.0.0.1:{neptune_emulator_sigv4.port}")
    code, out, err = cli(capsys, "load", s3_source({"a.nt": NT}), "--wait", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["status"]["overallStatus"]["status"] == "LOAD_COMPLETED"
    code, listed, logged = cli(capsys, "list")
    assert code == 0 and answer["loadId"] in listed
    output = out + err + listed + logged
    assert NEPTUNE_SIGV4_SECRET_KEY not in output and NEPTUNE_SIGV4_SESSION_TOKEN not in output

    signer["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_SIGNER", json.dumps(signer))
    code, _, err = cli(capsys, "status", answer["loadId"])
    assert (
        code == 2
        and err.startswith("rdfox-pipeline: error: Neptune loader error 403 ")
        and "signature" in err
    )
