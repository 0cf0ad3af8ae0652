"""A run handed several uploads: which one it registers, which runs it starts, and under which run ids."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG
from rdfox_pipeline.operators import upload_fanout
from rdfox_pipeline.operators.job_registration import (
    JobspecLocation,
    is_upload_dispatch,
    jobspec_location,
    locations_from_asset_events,
)
from rdfox_pipeline.operators.upload_fanout import UploadFanOutOperator, upload_run_id

pytestmark = pytest.mark.compat

SUFFIX = "rdfoxjob.json"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(body: dict[str, Any] | str, seconds: int) -> SimpleNamespace:
    """An asset event as the task context gives it: ``extra`` from the SQS trigger, and a timestamp."""
    text = body if isinstance(body, str) else json.dumps(body)
    payload = {"status": "success", "message_batch": [{"MessageId": f"m{seconds}", "Body": text}]}
    return SimpleNamespace(
        extra={"from_trigger": True, "payload": payload}, timestamp=T0 + timedelta(seconds=seconds)
    )


def _upload(key: str, sequencer: str = "0062") -> dict[str, Any]:
    s3 = {"bucket": {"name": "in"}, "object": {"key": key, "sequencer": sequencer}}
    return {"Records": [{"eventName": "ObjectCreated:Put", "s3": s3}]}


def _context(events: list[Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    log = SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None)
    return {
        "triggering_asset_events": {"asset": events} if events else {},
        "params": {"jobspec": {}, "jobspec_uri": "", **(params or {})},
        "ti": SimpleNamespace(log=log),
    }


SETTINGS = SimpleNamespace(jobspec_name=SUFFIX, input_bucket="in")


def test_every_upload_of_the_run_in_order_events_naming_no_jobspec_left_out() -> None:
    # Handed newest first, with events that name no jobspec between them.
    events = [
        _event(_upload("DS/c.rdfoxjob.json"), 30),
        _event({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "in"}, 5),
        _event(_upload("DS/a.rdfoxjob.json"), 10),
        _event(_upload("DS/"), 15),  # a "folder"
        _event(_upload("DS/data.nt"), 16),  # another suffix
        _event("not json", 17),
        _event(_upload("DS/b.rdfoxjob.json"), 20),
    ]
    keys = [loc.key for loc in locations_from_asset_events(events, SUFFIX)]
    assert keys == ["DS/a.rdfoxjob.json", "DS/b.rdfoxjob.json", "DS/c.rdfoxjob.json"]


def test_a_notification_delivered_twice_is_one_upload_a_rewrite_is_another() -> None:
    events = [
        _event(_upload("DS/b.rdfoxjob.json", "02"), 2),
        _event(_upload("DS/b.rdfoxjob.json", "02"), 3),  # S3 or SQS delivered it twice
        _event(_upload("DS/b.rdfoxjob.json", "07"), 4),  # the same key uploaded again
    ]
    found = locations_from_asset_events(events, SUFFIX)
    assert [(loc.key, loc.sequencer) for loc in found] == [
        ("DS/b.rdfoxjob.json", "02"), ("DS/b.rdfoxjob.json", "07"),
    ]  # fmt: skip
    assert len({upload_run_id(loc) for loc in found}) == 2


def test_an_upload_run_registers_nothing_itself() -> None:
    asset_run = _context([_event(_upload("DS/a.rdfoxjob.json"), 1)])
    assert is_upload_dispatch(asset_run)
    assert is_upload_dispatch({**_context([]), "dag_run": SimpleNamespace(run_type="asset_triggered")})
    manual = {
        **_context([], {"jobspec_uri": "s3://in/DS/a.rdfoxjob.json"}),
        "dag_run": SimpleNamespace(run_type="manual"),
    }
    assert not is_upload_dispatch(manual)
    assert jobspec_location(manual, SETTINGS) == JobspecLocation("in", "DS/a.rdfoxjob.json")
    assert jobspec_location(asset_run, SETTINGS) is None  # the run's uploads are not its jobspec


def test_run_ids_are_stable_distinct_and_allowed_by_airflow() -> None:
    from airflow.configuration import conf

    pattern = re.compile(conf.get("scheduler", "allowed_run_id_pattern"))
    a = JobspecLocation("in", "DS/my job+é.rdfoxjob.json", "0062")
    assert upload_run_id(a) == upload_run_id(JobspecLocation("in", "DS/my job+é.rdfoxjob.json", "0062"))
    assert upload_run_id(a) != upload_run_id(JobspecLocation("in", "DS/my job+é.rdfoxjob.json", "0063"))
    assert upload_run_id(a) != upload_run_id(JobspecLocation("other", "DS/my job+é.rdfoxjob.json", "0062"))
    long_key = JobspecLocation("in", "D/" + "x" * 900 + ".rdfoxjob.json", "1")
    for run_id in (upload_run_id(a), upload_run_id(long_key)):
        assert run_id.startswith("upload__") and pattern.fullmatch(run_id), run_id
        assert len(run_id) <= 250  # the dag_run.run_id column
    assert "DS-my-job" in upload_run_id(a)  # readable in the UI


class _Ti:
    """The task instance's API-server calls the operator makes: which runs exist."""

    def __init__(self, existing: set[str]) -> None:
        self.existing = existing
        self.log = SimpleNamespace(info=lambda *a, **k: None)

    def get_dr_count(self, dag_id: str, run_ids: list[str]) -> int:
        assert dag_id == "rdfox_neptune_pipeline"
        return len(set(run_ids) & self.existing)


class _InletEvents:
    """Task SDK 1.0's accessor (Airflow 3.0): every event of the asset, unfiltered."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def __getitem__(self, asset: Any) -> list[Any]:
        return list(self.events)


def test_operator_starts_a_run_per_upload_not_yet_started(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Asset

    read: list[Any] = []
    monkeypatch.setattr(upload_fanout, "_load_settings", lambda conn_id: read.append(conn_id) or SETTINGS)
    asset = Asset(name="rdfox_jobspec_uploads")
    with DAG(dag_id="rdfox_neptune_pipeline", schedule=None):
        op = UploadFanOutOperator(task_id="fan_out_uploads", inlets=[asset])
    a, b, c, d = (JobspecLocation("in", f"DS/{n}.rdfoxjob.json", n) for n in "abcd")
    # A UI/REST/CLI run: nothing to start, no settings read.
    manual = {**_context([]), "dag_run": SimpleNamespace(run_type="manual", run_after=T0)}
    assert op.execute(manual) == []
    assert read == []
    # The run consumed a and b; c came while it was being created (Airflow gives it to no run), d later.
    # a's run was started by an earlier asset-triggered run that saw it the same way.
    context = _context([_event(_upload(b.key, "b"), 2), _event(_upload(a.key, "a"), 1)])
    context["dag_run"] = SimpleNamespace(run_type="asset_triggered", run_after=T0 + timedelta(seconds=2))
    context["ti"] = _Ti({upload_run_id(a)})
    older = _event(_upload("DS/old.rdfoxjob.json", "o"), -50)  # an earlier run's: not this run's to start
    context["inlet_events"] = _InletEvents(
        [older, _event(_upload(c.key, "c"), 3), _event(_upload(d.key, "d"), 9)]
    )
    out = op.execute(context)
    assert read == ["aws_default"]
    assert out == [
        {"trigger_run_id": upload_run_id(loc), "conf": {"jobspec_uri": loc.uri}} for loc in (b, c, d)
    ]
    json.dumps(out)  # an XCom


def test_the_mapped_trigger_sends_the_upload_run_id_without_a_logical_date() -> None:
    """What start_upload_runs asks the API server for: that run id, no logical date, skip when it exists."""
    import runpy

    from tests.conftest import REPO_ROOT

    dag = runpy.run_path(str(REPO_ROOT / "dags" / "rdfox_neptune_pipeline.py"))["dag"]
    mapped = dag.get_task("start_upload_runs")
    assert mapped.upstream_task_ids == {"fan_out_uploads"}
    kwargs = {
        k: mapped.partial_kwargs[k] for k in ("trigger_dag_id", "logical_date", "skip_when_already_exists")
    }
    assert kwargs == {"trigger_dag_id": dag.dag_id, "logical_date": None, "skip_when_already_exists": True}
    assert mapped.partial_kwargs["retries"] > 0  # safe: a retry finds the run and is skipped
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    location = JobspecLocation("in", "DS/b.rdfoxjob.json", "2")
    op = TriggerDagRunOperator(
        task_id="t", trigger_run_id=upload_run_id(location), conf={"jobspec_uri": location.uri}, **kwargs
    )
    with pytest.raises(Exception) as info:  # the task runner turns it into the API call
        op.execute({})
    sent = info.value
    assert type(sent).__name__ == "DagRunTriggerException"
    assert (sent.dag_run_id, sent.logical_date, sent.skip_when_already_exists, sent.conf) == (
        upload_run_id(location), None, True, {"jobspec_uri": "s3://in/DS/b.rdfoxjob.json"},
    )  # fmt: skip
