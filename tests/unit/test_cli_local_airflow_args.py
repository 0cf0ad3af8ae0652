"""`local up --airflow` refuses bad options before it starts anything (the run: test_local_airflow.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from rdfox_pipeline.cli.main import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--no-auth"], "--airflow-port and --no-auth need --airflow"),
        (["--airflow-port", "8080"], "--airflow-port and --no-auth need --airflow"),
        (["--airflow", "--airflow-port", "80"], "--airflow-port must be between 1024 and 65535, got 80"),
    ],
)
def test_bad_airflow_options_are_one_line_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "state"
    assert main(["local", "up", "--state-dir", str(state_dir), *argv]) == 2
    assert capsys.readouterr().err.strip() == f"rdfox-pipeline: error: {message}"
    assert not state_dir.exists()  # nothing started


def test_a_taken_airflow_port_is_refused_before_the_stack_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["local", "up", "--airflow", "--airflow-port", str(port), "--state-dir", str(state_dir)]
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"Airflow's port {port} on 127.0.0.1 is not free" in err, err
    assert not state_dir.exists()
