"""The Neptune load through Airflow itself: one ``airflow dags test`` run (Airflow's start-up is slow, so
one run covers every outcome) of NeptuneBulkLoadOperator -- retried by Airflow after its POST's answer is
lost -- and the deferrable NeptuneLoadStatusSensor, whose trigger Airflow serialises, rebuilds and runs
inline, against the Neptune emulator with the job table, S3 and SSM on moto. ``neptune_default`` has no host:
the endpoint is the NEPTUNE_CLUSTER_ENDPOINT setting in SSM. A good job loads; a job with a bad record and
failOnError fails its task with the loader's own errors and gets NEPTUNE_LOAD_FAILED; a job whose connection
names another endpoint than the setting fails before any request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rdfox_pipeline.triggers.resume_floor import RESUME_FLOOR_ENV

from tests.conftest import free_port
from tests.integration.conftest import NeptuneEmulator
from tests.integration.neptune_job_fixtures import NT, Job, make_job_fixture  # noqa: F401 - fixture
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

DAGS = Path(__file__).parent / "neptune_dags"
pytestmark = [
    pytest.mark.compat,
    pytest.mark.slow,
    pytest.mark.timeout(400),
    pytest.mark.usefixtures("isolated_settings"),
]
BAD_LINE = "<http://a/s> <not an iri> <http://a/o> .\n"


def _conn(host: str | None = None, port: int | None = None) -> str:
    # One attempt per Neptune call: a lost POST answer fails the task's first try at once.
    extra = {"use_https": False, "max_attempts": 1}
    return json.dumps({"conn_type": "neptune", "host": host, "port": port, "extra": extra})


def _plain(text: str) -> str:
    """Output without colours, box rules and line wraps: one space between words."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m|[\u2500-\u257f]", " ", text).split())


def _dags_test(jobs: dict[str, Job], conflicting_port: int) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_CONN_NEPTUNE_DEFAULT": _conn(),  # no host: NEPTUNE_CLUSTER_ENDPOINT names the emulator
        "AIRFLOW_CONN_NEPTUNE_CONFLICT": _conn("127.0.0.1", conflicting_port),
        RESUME_FLOOR_ENV: "0",  # `dags test` runs triggers inline: no scheduler to race
    }
    conf = {"jobs": {name: job.job_id for name, job in jobs.items()}}
    airflow = str(Path(sys.executable).with_name("airflow"))
    return subprocess.run(
        [airflow, "dags", "test", "neptune_load_on_emulator", "-c", json.dumps(conf)],
        env=env, capture_output=True, text=True, timeout=360,
    )  # fmt: skip


def test_load_and_deferred_wait_through_airflow(
    airflow_db: Path,
    aws_default_connection: str,
    neptune_emulator: NeptuneEmulator,
    make_job: Callable[..., Job],
    isolated_settings: Callable[[str, str], None],
) -> None:
    setting = f"http://127.0.0.1:{neptune_emulator.port}"
    isolated_settings("NEPTUNE_CLUSTER_ENDPOINT", setting)
    good = make_job()
    bad = make_job({"part-0001.nt": BAD_LINE + NT.replace("/o", "/bad")}, neptune={"fail_on_error": True})
    conflict = make_job()
    neptune_emulator.control("throttle", {"seconds": 1})
    # The good job's first POST starts its load but the answer is lost: that try fails, Airflow retries it.
    neptune_emulator.control("faults", {"status": 500, "count": 1, "mode": "drop", "match": good.source})
    other_port = free_port()
    result = _dags_test({"good": good, "bad": bad, "conflict": conflict}, other_port)
    output = result.stdout + result.stderr
    good_record, bad_record = good.record(), bad.record()
    assert "neptune_load_id" in good_record and "neptune_load_id" in bad_record, output[-8000:]

    # Exactly one load per job, although the good job's operator ran twice: its retry found the first load.
    assert neptune_emulator.stats()["faults"]["injected_failures"] == 1
    assert neptune_emulator.stats()["loader"]["loads_submitted"] == 2
    good_id, bad_id = good_record["neptune_load_id"], bad_record["neptune_load_id"]
    assert sorted(neptune_emulator.list_load_ids()) == sorted([good_id, bad_id])
    assert f"Found Neptune load {good_id} for {good.source} from an earlier attempt" in output
    # Both sensors deferred; Airflow rebuilt each trigger from its serialised form and ran it.
    assert output.count("running trigger in line") == 2

    assert good_record["job_status"] == "NEPTUNE_LOAD_COMPLETED"
    assert good_record["neptune_stats"]["total_records"] == 2

    assert bad_record["job_status"] == "NEPTUNE_LOAD_FAILED"
    assert f"Neptune load {bad_id} ended LOAD_FAILED" in bad_record["error_reason"]
    assert "PARSING_ERROR" in bad_record["error_reason"]  # the loader's own errors (errors=true)
    assert f"Neptune load {bad_id} ended LOAD_FAILED" in output and "PARSING_ERROR" in output

    # The endpoint came from the setting, and the sensors polled the one their load was started on.
    source = "NEPTUNE_CLUSTER_ENDPOINT (connection 'neptune_default' has no host)"
    assert f"Neptune endpoint {setting}, from {source}" in output
    assert f"Neptune endpoint {setting}, from the endpoint Neptune load {good_id} was started on" in output
    # The conflicting job failed before any request: no load, nothing recorded as started.
    # Airflow 3.0 prints the failed task's exception inside a rich traceback box, wrapped and coloured.
    assert (
        f"Neptune endpoint conflict: connection 'neptune_conflict' names http://127.0.0.1:{other_port} "
        f"but NEPTUNE_CLUSTER_ENDPOINT names {setting}"
    ) in _plain(output)
    conflict_record = conflict.record()
    assert "neptune_load_id" not in conflict_record and "neptune_load_source" not in conflict_record
