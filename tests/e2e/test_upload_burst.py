"""Ten jobspecs uploaded at once become ten jobs, under a real scheduler + triggerer (issue 13, scenario 1).

The input bucket notifies the jobspec queue; the DAG's asset watcher turns each message into an asset event.
With ``max_active_runs`` lowered to 2 (``RDFOX_PIPELINE_MAX_ACTIVE_RUNS``), most uploads arrive while the DAG
is at its limit: Airflow then hands one asset-triggered run several events, and leaves the events that come
while it waits to no run at all. Every upload must still become exactly one job: its own run, a record that
reaches SUCCESS_NOTIFICATION_SENT, one pod ever created, one Neptune load, one notification, and never more
than two runs active at once.

Kept cheap: the smallest sample dataset and one dataset shared by the ten jobs. The resume floor stays at
its default (20 s): with 5 s, one job's ``reason`` was retried and created a second pod (scenario 3).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench._airflow_services import AirflowServices
from tests.e2e.conftest import wait_for
from tests.k8s_audit import pods_created_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3300)]

DATASET = "BURST"
UPLOADS = 10
MAX_ACTIVE_RUNS = 2
TERMINAL = {"SUCCESS_NOTIFICATION_SENT", "ERROR_NOTIFICATION_SENT"}
# About 6 min on an idle 2-core box; a machine shared by several test runs needs several times that.
WAIT_SECONDS = 2700


@dataclass
class Burst:
    stack: Any
    demo: Any
    services: AirflowServices
    keys: list[str]
    records: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, tuple[str, str]] = field(default_factory=dict)  # run id -> (run type, state)
    peak_active: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def http_json(self, server: str, path: str) -> Any:
        import urllib.request

        url = self.stack.state().servers[server].url + path
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def pods_created_for(self, job_id: str) -> list[str]:
        return pods_created_for(self.stack.k8s_dir, job_id)

    def loads(self) -> dict[str, str]:
        """Every load the Neptune emulator was asked for: load id -> its source."""
        ids = self.http_json("neptune", "/loader?limit=100")["payload"]["loadIds"]
        return {
            load_id: str(self.http_json("neptune", f"/_emulator/loads/{load_id}")["overallStatus"]["fullUri"])
            for load_id in ids
        }


class ActiveRunSampler(threading.Thread):
    """The highest number of runs of the DAG in the ``running`` state at once, read every half second."""

    def __init__(self, services: AirflowServices) -> None:
        super().__init__(daemon=True)
        self.services = services
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            rows = self.services._query(
                "SELECT count(*) FROM dag_run WHERE dag_id = ? AND state = 'running'",
                ["rdfox_neptune_pipeline"],
            )
            self.peak = max(self.peak, int(rows[0][0]))
            self._stop_event.wait(0.5)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def _records(demo: Any) -> list[dict[str, Any]]:
    return list(demo.job_records(DATASET).values())


@pytest.fixture(scope="module")
def burst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Burst]:
    from rdfox_local.stack.demo import Demo
    from rdfox_local.stack.stack import LocalStack

    state_dir = tmp_path_factory.mktemp("burst-stack")
    stack = LocalStack(state_dir)
    state = stack.up(log=lambda _m: None)
    services = None
    try:
        # 300 transactions: the smallest sample that still gives non-empty answers (a load of 0 records
        # would not show that the load happened).
        demo = Demo(stack, state, transactions=300, log=lambda _m: None)
        data_dir = state_dir / "generated"
        data_dir.mkdir()
        bucket = demo.resources["input_bucket"]
        for path in demo.generate(data_dir) + demo.sample_files():
            demo.s3.upload_file(str(path), bucket, f"{DATASET}/{path.name}")
        services = AirflowServices(
            stack,
            parallelism=4,
            extra_env={
                "RDFOX_PIPELINE_MAX_ACTIVE_RUNS": str(MAX_ACTIVE_RUNS),
                # Airflow's default (and MWAA's), not the fixture's 600 s: on Airflow 3.3 a finished
                # operator-triggered run does not clear the DAG's "at max_active_runs" flag, only a parse
                # of the DAG file does, so uploads queued behind a burst wait for the next parse.
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            },
        )
        assert services.env["RDFOX_PIPELINE_JOBSPEC_QUEUE_URL"], "the local stack must set up the queue"
        services.start()
        jobspec = {
            "dataset": DATASET,
            "job_bucket": bucket,
            "output_bucket": demo.resources["output_bucket"],
            "resources": {"cores": 1, "memory": "1Gi"},
        }
        keys = [f"{DATASET}/burst-{i:02d}.rdfoxjob.json" for i in range(UPLOADS)]
        b = Burst(stack, demo, services, keys)
        sampler = ActiveRunSampler(services)
        sampler.start()
        started = time.monotonic()
        for key in keys:  # back to back: the ten notifications reach the queue within a second or so
            demo.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(jobspec).encode())
        try:
            _wait_for_the_jobs(b)
        finally:
            sampler.stop()
        b.seconds = time.monotonic() - started
        b.peak_active = sampler.peak
        b.records = _records(demo)
        rows = services._query(
            "SELECT run_id, run_type, state FROM dag_run WHERE dag_id = ?", ["rdfox_neptune_pipeline"]
        )
        b.runs = {r[0]: (r[1], r[2]) for r in rows}
        b.messages = demo.notifications(wait_seconds=5)
        print(f"\n{UPLOADS} uploads -> {len(b.records)} jobs finished in {b.seconds:.0f} s")
        yield b
    finally:
        if services is not None:
            services.stop()
        stack.down(log=lambda _m: None)


def _wait_for_the_jobs(b: Burst) -> None:
    """Until every upload has a finished job, or every run has ended for a minute (a job was lost), or
    WAIT_SECONDS have passed."""
    quiet_since: list[float] = []

    def done() -> bool:
        b.services.check_alive()
        finished = [r for r in _records(b.demo) if r["job_status"] in TERMINAL]
        query = "SELECT state FROM dag_run WHERE dag_id = ?"
        ended = {r[0] for r in b.services._query(query, ["rdfox_neptune_pipeline"])} <= {"success", "failed"}
        if len(finished) >= UPLOADS and ended:  # a run ends a moment after its job's record is final
            return True
        states = {
            r[0]
            for r in b.services._query(
                "SELECT state FROM dag_run WHERE dag_id = ?", ["rdfox_neptune_pipeline"]
            )
        }
        if states and states <= {"success", "failed"}:
            quiet_since.append(time.monotonic())
            if quiet_since[-1] - quiet_since[0] > 120:  # a parse (30 s) would have let runs start by now
                return True
        else:
            quiet_since.clear()
        return False

    # On a timeout the tests report what was reached: records, runs and their states.
    with contextlib.suppress(TimeoutError):
        wait_for(done, WAIT_SECONDS, interval=3, what=f"{UPLOADS} finished jobs")


def test_every_upload_becomes_one_successful_job(burst: Burst) -> None:
    assert len(burst.records) == UPLOADS, (
        f"{len(burst.records)} job records for {UPLOADS} uploads; runs: {burst.runs}"
    )
    statuses = {r["job_id"]: r["job_status"] for r in burst.records}
    assert set(statuses.values()) == {"SUCCESS_NOTIFICATION_SENT"}, [
        (r["job_id"], r["job_status"], r.get("error_reason")) for r in burst.records
    ]
    bucket = burst.demo.resources["input_bucket"]
    assert sorted(r["jobspec_uri"] for r in burst.records) == [f"s3://{bucket}/{k}" for k in burst.keys]


def test_one_pod_one_load_one_notification_per_job(burst: Burst) -> None:
    loads = burst.loads()
    for record in burst.records:
        job_id = record["job_id"]
        assert burst.pods_created_for(job_id) == [record["pod_name"]], job_id
        assert [i for i, uri in loads.items() if f"/{job_id}/" in uri] == [record["neptune_load_id"]], job_id
        mine = [m for m in burst.messages if job_id in json.dumps(m)]
        assert len(mine) == 1, (job_id, mine)
    assert len(loads) == UPLOADS


def test_one_run_per_upload_and_max_active_runs_held(burst: Burst) -> None:
    upload_runs = {r for r in burst.runs if r.startswith("upload__")}
    dispatch_runs = {r for r, (run_type, _) in burst.runs.items() if run_type == "asset_triggered"}
    assert len(upload_runs) == UPLOADS, burst.runs
    # Started by start_upload_runs: "operator_triggered" on Airflow 3.3, "manual" on 3.0.
    assert {burst.runs[r][0] for r in upload_runs} <= {"manual", "operator_triggered"}, burst.runs
    assert upload_runs | dispatch_runs == set(burst.runs), burst.runs
    assert {r["dag_run_id"] for r in burst.records} == upload_runs
    # Airflow batched the burst: fewer asset-triggered runs than uploads, yet every upload got its run.
    assert 1 <= len(dispatch_runs) < UPLOADS, dispatch_runs
    assert all(state == "success" for _, state in burst.runs.values()), burst.runs
    assert 1 <= burst.peak_active <= MAX_ACTIVE_RUNS, burst.peak_active
