"""NeptuneBulkLoadOperator against the Neptune emulator (HTTP) with the job table and S3 on moto's server:
parameters from settings and jobspec, the recorded loadId, and retries that never start a second load."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rdfox_pipeline.compat import AirflowException
from rdfox_pipeline.operators.neptune_load import NeptuneBulkLoadOperator

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN, NeptuneEmulator, neptune_conn_json
from tests.integration.neptune_job_fixtures import Job, make_job_fixture  # noqa: F401 - fixture
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.compat, pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_settings")]


def operator(job: Job, **kwargs: Any) -> NeptuneBulkLoadOperator:
    kwargs.setdefault("job_id", job.job_id)
    return NeptuneBulkLoadOperator(task_id="start_neptune_load", aws_conn_id=None, **kwargs)


def test_starts_the_load_of_the_data_prefix_with_settings_and_jobspec_overrides(
    neptune_connection: str, neptune_emulator: NeptuneEmulator, make_job: Callable[..., Job], monkeypatch
) -> None:
    monkeypatch.setenv("NEPTUNE_PARALLELISM", "LOW")  # a setting ...
    monkeypatch.setenv("NEPTUNE_LOAD_MODE", "RESUME")  # ... that the jobspec overrides
    graph = "http://example.org/graph/jobs"
    job = make_job(
        neptune={"mode": "NEW", "fail_on_error": True, "parser_configuration": {"namedGraphUri": graph}}
    )
    load_id = operator(job).execute({})
    sent = neptune_emulator.load_request(load_id)
    assert sent["source"] == job.source and sent["format"] == "ntriples"
    assert sent["iamRoleArn"] == TEST_ROLE_ARN and sent["region"] == TEST_REGION
    assert (sent["parallelism"], sent["mode"], sent["failOnError"]) == ("LOW", "NEW", "TRUE")
    assert sent["queueRequest"] == "TRUE" and sent["updateSingleCardinalityProperties"] == "TRUE"  # defaults
    assert sent["parserConfiguration"] == {"namedGraphUri": graph}
    record = job.record()
    assert record["neptune_load_id"] == load_id and record["neptune_load_source"] == job.source
    assert record["job_status"] in ("NEPTUNE_LOAD_NOT_STARTED", "NEPTUNE_LOAD_IN_PROGRESS")
    overall = neptune_emulator.wait_for_load(load_id)["overallStatus"]
    assert overall["status"] == "LOAD_COMPLETED" and overall["totalRecords"] == 2  # data/ only, no log


def test_retried_operator_reuses_the_recorded_load(
    neptune_connection: str, neptune_emulator: NeptuneEmulator, make_job: Callable[..., Job]
) -> None:
    neptune_emulator.control("throttle", {"seconds": 2})
    job = make_job()
    first = operator(job).execute({})
    assert operator(job).execute({}) == first  # running: reused
    neptune_emulator.wait_for_load(first)
    assert operator(job).execute({}) == first  # completed: reused too
    assert neptune_emulator.stats()["loader"]["loads_submitted"] == 1


def test_retry_after_a_lost_answer_finds_the_load_the_first_try_started(
    neptune_emulator: NeptuneEmulator, make_job: Callable[..., Job], monkeypatch
) -> None:
    # One attempt per call: the first try fails as soon as its POST's answer is lost (a worker that died
    # between the POST and writing the loadId); only the operator's own retry can recover.
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", neptune_conn_json(neptune_emulator, max_attempts=1))
    neptune_emulator.control("throttle", {"seconds": 1})
    job = make_job()
    neptune_emulator.control("faults", {"status": 500, "count": 1, "mode": "drop"})
    with pytest.raises(Exception, match=r"(?i)connection|aborted|disconnected"):
        operator(job).execute({})
    record = job.record()
    assert "neptune_load_id" not in record and record["neptune_load_source"] == job.source
    [started] = neptune_emulator.list_load_ids()  # the lost POST did start a load
    assert operator(job).execute({}) == started
    assert job.record()["neptune_load_id"] == started
    assert neptune_emulator.stats()["loader"]["loads_submitted"] == 1


def test_a_recorded_load_that_failed_is_replaced(
    neptune_connection: str, neptune_emulator: NeptuneEmulator, make_job: Callable[..., Job]
) -> None:
    job = make_job()
    neptune_emulator.control("next-load-status", {"status": "LOAD_FAILED"})
    failed = operator(job).execute({})
    assert neptune_emulator.wait_for_load(failed)["overallStatus"]["status"] == "LOAD_FAILED"
    second = operator(job).execute({})
    assert second != failed and job.record()["neptune_load_id"] == second
    assert neptune_emulator.wait_for_load(second)["overallStatus"]["status"] == "LOAD_COMPLETED"
    assert neptune_emulator.stats()["loader"]["loads_submitted"] == 2


def test_bad_input_fails_before_any_neptune_request(
    neptune_connection: str, neptune_emulator: NeptuneEmulator, make_job: Callable[..., Job], monkeypatch
) -> None:
    job = make_job()
    monkeypatch.delenv("NEPTUNE_IAM_ROLE_ARN")
    with pytest.raises(AirflowException, match="NEPTUNE_IAM_ROLE_ARN is not set"):
        operator(job).execute({})
    with pytest.raises(AirflowException, match="has no record in the job table"):
        operator(job, iam_role_arn=TEST_ROLE_ARN, job_id=f"{job.dataset}_2021-01-01_999").execute({})
    assert neptune_emulator.stats()["requests"] == 0


def test_explicit_arguments_win_and_are_templated(neptune_connection, neptune_emulator, make_job) -> None:
    job = make_job()
    task = NeptuneBulkLoadOperator(
        task_id="t", job_id="{{ params.job }}", source="{{ params.src }}", source_format="{{ params.fmt }}",
        aws_conn_id=None, params={"job": job.job_id, "src": job.source, "fmt": "nquads"},
    )  # fmt: skip
    assert {"job_id", "source", "source_format", "iam_role_arn"} <= set(task.template_fields)
    task.render_template_fields({"params": task.params})
    load_id = task.execute({})
    assert neptune_emulator.load_request(load_id)["format"] == "nquads"
    # N-Triples lines are valid N-Quads: the explicit format loads the same data
    assert neptune_emulator.wait_for_load(load_id)["overallStatus"]["totalRecords"] == 2
    assert job.record()["neptune_load_id"] == load_id
