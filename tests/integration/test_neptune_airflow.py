"""The Neptune load through Airflow itself: one ``airflow dags test`` run (Airflow's start-up is slow, so
one run covers both outcomes) of NeptuneBulkLoadOperator -- retried by Airflow after its POST's answer is
lost -- and the deferrable NeptuneLoadStatusSensor, whose trigger Airflow serialises, rebuilds and runs
inline, against the Neptune emulator with the job table and S3 on moto. A good job loads; a job with a bad
record and failOnError fails its task with the loader's own errors and gets NEPTUNE_LOAD_FAILED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import NeptuneEmulator, neptune_conn_json
from tests.integration.neptune_job_fixtures import NT, Job, make_job_fixture  # noqa: F401 - fixture
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

DAGS = Path(__file__).parent / "neptune_dags"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400), pytest.mark.usefixtures("isolated_settings")]
BAD_LINE = "<http://a/s> <not an iri> <http://a/o> .\n"


def _dags_test(jobs: dict[str, Job], emulator: NeptuneEmulator) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        # One attempt per Neptune call: a lost POST answer fails the task's first try at once.
        "AIRFLOW_CONN_NEPTUNE_DEFAULT": neptune_conn_json(emulator, max_attempts=1),
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
) -> None:
    good = make_job()
    bad = make_job({"part-0001.nt": NT + BAD_LINE}, neptune={"fail_on_error": True})
    neptune_emulator.control("throttle", {"seconds": 2})  # long enough for the trigger to poll a few times
    neptune_emulator.control("faults", {"status": 500, "count": 1, "mode": "drop"})  # the first POST
    result = _dags_test({"good": good, "bad": bad}, neptune_emulator)
    output = result.stdout + result.stderr
    good_record, bad_record = good.record(), bad.record()
    assert "neptune_load_id" in good_record and "neptune_load_id" in bad_record, output[-8000:]

    # Exactly one load per job, although one operator ran twice (the retry found the first try's load).
    assert neptune_emulator.stats()["loader"]["loads_submitted"] == 2
    assert sorted(neptune_emulator.list_load_ids()) == sorted(
        [good_record["neptune_load_id"], bad_record["neptune_load_id"]]
    )
    assert output.count("from an earlier attempt") == 1, output[-8000:]
    # The trigger (rebuilt from its serialised form) logged progress while the loads ran.
    assert "LOAD_IN_PROGRESS" in output and "records so far" in output

    assert good_record["job_status"] == "NEPTUNE_LOAD_COMPLETED"
    assert good_record["neptune_stats"]["total_records"] == 2

    bad_id = bad_record["neptune_load_id"]
    assert bad_record["job_status"] == "NEPTUNE_LOAD_FAILED"
    assert f"Neptune load {bad_id} ended LOAD_FAILED" in bad_record["error_reason"]
    assert "PARSING_ERROR" in bad_record["error_reason"]  # the loader's own errors (errors=true)
    assert f"Neptune load {bad_id} ended LOAD_FAILED" in output and "PARSING_ERROR" in output
