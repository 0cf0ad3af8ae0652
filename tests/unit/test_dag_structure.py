"""The DAG file: imports cleanly, opens no socket while parsed, and has the shape DESIGN.md describes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.compat  # also run under MWAA's Airflow (make test-compat)

DAG_FILE = REPO_ROOT / "dags" / "rdfox_neptune_pipeline.py"
DAG_ID = "rdfox_neptune_pipeline"
CHAIN = [
    "wait_for_jobspec",
    "register_job",
    "reason",
    "parse_rdfox_log",
    "start_neptune_load",
    "wait_for_neptune_load",
    "notify",
]
FAN_OUT = ["fan_out_uploads", "start_upload_runs"]


@pytest.fixture(scope="module")
def dag():
    from rdfox_pipeline.compat import dag_bag_class

    bag = dag_bag_class()(dag_folder=str(DAG_FILE), bundle_path=DAG_FILE.parent)
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags[DAG_ID]


def test_imports_without_errors(dag) -> None:
    assert dag.dag_id == DAG_ID
    assert dag.doc_md and "notify_failure" in dag.doc_md
    assert {"rdfox", "neptune"} <= set(dag.tags)
    assert dag.max_active_runs and dag.max_active_runs <= 16


def test_task_order(dag) -> None:
    assert set(dag.task_ids) == {*CHAIN, "notify_failure", "mark_run_failed", *FAN_OUT}
    for position, (upstream, downstream) in enumerate(itertools.pairwise(CHAIN)):
        upstreams = dag.get_task(downstream).upstream_task_ids
        assert upstream in upstreams, downstream
        # Besides its predecessor a task may only depend on earlier tasks (the XCom of register_job
        # is an implicit dependency of the tasks that take the registration).
        assert upstreams <= set(CHAIN[: position + 1]), (downstream, upstreams)
    # notify_failure watches every task that can fail after the jobspec wait.
    assert dag.get_task("notify_failure").upstream_task_ids == set(CHAIN[1:])
    # A failed job is a failed run: mark_run_failed watches every task and is, with notify_failure, a leaf.
    assert dag.get_task("mark_run_failed").upstream_task_ids == set(CHAIN)
    leaves = {t.task_id for t in dag.tasks if not t.downstream_task_ids}
    assert leaves == {"notify_failure", "mark_run_failed", "start_upload_runs"}


def test_extra_uploads_fan_out_beside_the_job(dag) -> None:
    """fan_out_uploads starts the run; its mapped trigger is a leaf no job task waits for or watches: it
    cannot fail this run's job or notify about it, and a failure of its own fails the run (a leaf)."""
    assert dag.get_task("fan_out_uploads").upstream_task_ids == set()
    assert dag.get_task("fan_out_uploads").downstream_task_ids == {"start_upload_runs"}
    for task_id in (*CHAIN, "notify_failure", "mark_run_failed"):
        assert not set(FAN_OUT) & dag.get_task(task_id).upstream_task_ids, task_id


def test_max_active_runs_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """RDFOX_PIPELINE_MAX_ACTIVE_RUNS, read at parse time; a bad value is an import error naming it."""
    import runpy

    read = runpy.run_path(str(DAG_FILE))["_max_active_runs"]
    monkeypatch.delenv("RDFOX_PIPELINE_MAX_ACTIVE_RUNS", raising=False)
    assert read() == 8
    for value, expected in (("2", 2), (" 64 ", 64)):
        monkeypatch.setenv("RDFOX_PIPELINE_MAX_ACTIVE_RUNS", value)
        assert read() == expected
    for bad in ("0", "65", "two", "-1"):
        monkeypatch.setenv("RDFOX_PIPELINE_MAX_ACTIVE_RUNS", bad)
        with pytest.raises(ValueError, match=f"RDFOX_PIPELINE_MAX_ACTIVE_RUNS: '{bad}'"):
            read()


def test_trigger_rules_retries_and_pool(dag) -> None:
    assert dag.get_task("register_job").trigger_rule == "none_failed"  # runs after a skipped wait
    assert dag.get_task("notify_failure").trigger_rule == "one_failed"
    assert dag.get_task("mark_run_failed").trigger_rule == "one_failed"
    assert dag.get_task("mark_run_failed").retries == 0
    assert dag.get_task("notify").trigger_rule == "all_success"
    assert dag.get_task("register_job").retries == 2  # allocation is idempotent per run (allocation_key)
    assert dag.get_task("reason").retries == 1  # reattaches only; refuses after INFERENCE_FAILED
    assert dag.get_task("start_neptune_load").retries > 0  # idempotent
    for read_only in ("wait_for_jobspec", "parse_rdfox_log", "wait_for_neptune_load"):
        assert dag.get_task(read_only).retries > 0, read_only
    assert dag.get_task("reason").pool == "rdfox_pods"


def test_reason_reattaches_to_its_pod_on_a_retry(dag) -> None:
    """Through the argument the running Airflow honours (durable on 3.3+, reattach_on_restart before)."""
    from rdfox_pipeline.compat import POD_REATTACH_ARGUMENT

    assert getattr(dag.get_task("reason"), POD_REATTACH_ARGUMENT) is True


def test_parse_warns_about_nothing_of_ours() -> None:
    """A parse-time warning of the pipeline's own (say, an argument this Airflow ignores) shows at every
    MWAA parse: none, on whichever Airflow runs the test."""
    import warnings

    from rdfox_pipeline.compat import dag_bag_class

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = dag_bag_class()(dag_folder=str(DAG_FILE), bundle_path=DAG_FILE.parent)
    assert bag.import_errors == {}
    ours = [w for w in caught if "rdfox" in str(w.filename) or "durable" in str(w.message)]
    assert ours == [], [f"{w.filename}:{w.lineno}: {w.message}" for w in ours]


def test_waits_are_deferrable(dag) -> None:
    for task_id in ("wait_for_jobspec", "reason", "parse_rdfox_log", "wait_for_neptune_load"):
        assert getattr(dag.get_task(task_id), "deferrable", False) is True, task_id


def test_params_schema(dag) -> None:
    import jsonschema

    params = dag.params
    jobspec_param, uri_param = params.get_param("jobspec"), params.get_param("jobspec_uri")
    schema_jobspec, schema_uri = jobspec_param.schema, uri_param.schema
    # The UI's trigger form shows title and description next to each field.
    assert "object" in schema_jobspec["type"] and schema_jobspec["title"] and jobspec_param.description
    assert "string" in schema_uri["type"] and schema_uri["title"] and uri_param.description
    # Defaults are empty: an asset-triggered run must not pick up an example jobspec.
    assert params["jobspec"] == {} and params["jobspec_uri"] == ""
    # The form's own fields (issue 16) come first, empty too (tests/unit/test_run_request.py checks them).
    from rdfox_pipeline.domain.run_request import FORM_FIELDS

    assert list(params.keys()) == [*FORM_FIELDS, "jobspec", "jobspec_uri"]
    assert not any(params[name] for name in FORM_FIELDS)
    jsonschema.validate("s3://rdfox-input/SAMPLE/demo.rdfoxjob.json", schema_uri)
    jsonschema.validate("SAMPLE/demo.rdfoxjob.json", schema_uri)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("https://example.com/x.json", schema_uri)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(["not", "an", "object"], schema_jobspec)


def _parse_in_fresh_process(queue_urls: list[str]) -> subprocess.CompletedProcess[str]:
    """Parse the DAG file in a new interpreter where every socket connect/resolve raises, once per queue URL
    (the file reads it when parsed, so one interpreter serves every case: Airflow is imported once)."""
    code = textwrap.dedent(
        f"""
        import json, os, socket, sys

        def forbidden(*args, **kwargs):
            raise AssertionError("socket use at DAG parse time: " + repr(args[:2]))

        socket.socket.connect = forbidden
        socket.socket.connect_ex = forbidden
        socket.create_connection = forbidden
        socket.getaddrinfo = forbidden

        from rdfox_pipeline.compat import dag_bag_class

        for queue_url in {queue_urls!r}:
            os.environ["RDFOX_PIPELINE_JOBSPEC_QUEUE_URL"] = queue_url
            bag = dag_bag_class()(dag_folder={str(DAG_FILE)!r})
            print(json.dumps({{"queue_url": queue_url,
                               "errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                               "dags": sorted(bag.dags), "schedule": str(bag.dags[{DAG_ID!r}].timetable)
                               if {DAG_ID!r} in bag.dags else None}}))
        """
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_parse_opens_no_socket() -> None:
    queue_urls = ["", "https://sqs.eu-west-2.amazonaws.com/123456789012/jobspecs"]
    done = _parse_in_fresh_process(queue_urls)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"queue_url"')]
    assert [r["queue_url"] for r in results] == queue_urls, done.stdout[-3000:]
    for result in results:
        assert result["errors"] == {}
        assert result["dags"] == [DAG_ID]
        # With a queue configured the DAG is asset-scheduled (the SQS watcher); without one, manual only.
        assert ("Asset" in result["schedule"]) == bool(result["queue_url"]), result
