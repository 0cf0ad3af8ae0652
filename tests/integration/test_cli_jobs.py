"""`rdfox-pipeline jobs show|list` against moto's server: once as a user runs it (a subprocess with only the
AWS environment), the rest in-process through ``cli.main.main`` (same code, without a start-up each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest
from rdfox_pipeline.hooks import JobMetadataHook

from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

# The table comes from JOB_TABLE_NAME in the environment: no SSM setting left on the shared moto server by
# another test may override it, so every test owns the SSM settings path.
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_settings", "cli_stdout_only")]
CLI = [str(Path(sys.executable).with_name("rdfox-pipeline"))]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def cli_env(aws_endpoint: str, tmp_path: Path) -> dict[str, str]:
    """What a laptop has: AWS env credentials and AWS_ENDPOINT_URL; no Airflow home, no connection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS"))}
    env.update(
        HOME=str(tmp_path),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-2",
        AWS_ENDPOINT_URL=aws_endpoint,
        JOB_TABLE_NAME=f"jobs-cli-{uuid.uuid4().hex[:8]}",
    )
    return env


@pytest.fixture
def jobs(cli_env: dict[str, str]) -> list[str]:
    hook = JobMetadataHook(aws_conn_id=None, table_name=cli_env["JOB_TABLE_NAME"], delimiter="_")
    hook.create_table_if_missing()
    ids = [hook.allocate_job("CLI", day=date(2021, 8, 1), jobspec={"ratio": 0.5}) for _ in range(3)]
    hook.record_status(ids[0], "INFERENCE_FAILED", error_reason="boom")
    return ids


def test_show_prints_the_record(cli_env: dict[str, str], jobs: list[str]) -> None:
    result = run_cli("jobs", "show", jobs[0], env=cli_env)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["job_id"] == jobs[0]
    assert record["job_status"] == "INFERENCE_FAILED"
    assert record["error_reason"] == "boom"
    assert record["jobspec"] == {"ratio": 0.5}
    assert not (Path(cli_env["HOME"]) / "airflow").exists()  # no Airflow machinery involved


@pytest.fixture
def in_process(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from rdfox_pipeline.aws.settings_loader import clear_settings_cache

    monkeypatch.setenv("JOB_TABLE_NAME", cli_env["JOB_TABLE_NAME"])
    clear_settings_cache()


def main_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from rdfox_pipeline.cli.main import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_by_status_and_limit(
    in_process: None, jobs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = main_cli(capsys, "jobs", "list", "--status", "created")
    assert code == 0, err
    listed = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["job_id"] for r in listed) == sorted(jobs[1:])
    code, out, err = main_cli(capsys, "jobs", "list", "--limit", "2")
    assert code == 0, err
    assert len(out.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("jobs", "show", "CLI_2021-08-01_999"), "no job 'CLI_2021-08-01_999' in table"),
        (("jobs", "show", "CLI_2021-8-1_000"), "invalid date"),
        (("jobs", "list", "--status", "DONE"), "unknown job status 'DONE'"),
        (("jobs", "show", "X_2021-08-01_000", "--table", "no-such-table"), "job table 'no-such-table' does"),
        (("jobs", "list", "--limit", "0"), "must be at least 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    in_process: None, jobs: list[str], capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = main_cli(capsys, *args)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err and message in err
    if "--limit" not in args:  # argparse prints usage first; our own errors are one line
        assert err.count("\n") == 1


def test_unknown_job_from_a_real_process(cli_env: dict[str, str], jobs: list[str]) -> None:
    result = run_cli("jobs", "show", "CLI_2021-08-01_999", env=cli_env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"rdfox-pipeline: error: no job 'CLI_2021-08-01_999' in table '{cli_env['JOB_TABLE_NAME']}'"
    )
