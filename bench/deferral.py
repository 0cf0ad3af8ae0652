"""Deferral: do waiting jobs hold worker slots? A real Airflow (api-server, dag-processor, scheduler with
LocalExecutor and ``parallelism`` = 4 worker slots, triggerer) on the local stack runs one job alone, then
20 jobs at once. The pod's prepare step is made to take ``POD_SECONDS`` longer and every Neptune load
``LOAD_SECONDS`` (the emulator's throttle), so that each job spends most of its time waiting.

Figures:

* makespan of the 20 jobs / wall time of the one job alone (goal <= 2: waiting jobs do not queue behind
  each other for worker slots);
* worker-slot seconds / job wall seconds, in % (goal <= 5 %): the busy LocalExecutor workers are sampled
  every 0.2 s (each sets its process title to the task it runs) and integrated over the batch, divided by
  the sum of the 20 runs' wall times.

What bounds them besides deferral is kept in the details: Neptune runs one load at a time (so N loads of
``LOAD_SECONDS`` take at least N x ``LOAD_SECONDS``), the DAG's ``max_active_runs``, and each task's process
start-up, which holds a worker slot whatever the task does.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import figure

JOBS = int(os.environ.get("BENCH_DEFERRAL_JOBS", "20"))
SLOTS = 4
POD_SECONDS = float(os.environ.get("BENCH_DEFERRAL_POD_SECONDS", "30"))
LOAD_SECONDS = float(os.environ.get("BENCH_DEFERRAL_LOAD_SECONDS", "30"))
GOAL_MAKESPAN_RATIO = 2.0
GOAL_SLOT_PERCENT = 5.0
DATASET = "DEFERRAL"


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30):  # nosec B310 - loopback emulator
        pass


def _batch(services: Any, jobspec: dict[str, Any], count: int, timeout: float) -> dict[str, Any]:
    with services.slot_sampler() as sampler:
        run_ids = services.trigger([{"jobspec": jobspec}] * count, prefix=f"bench{count}")
        runs = services.wait_runs(run_ids, timeout=timeout)
    starts = [r.start for r in runs.values() if r.start]
    ends = [r.end for r in runs.values() if r.end]
    walls = [r.seconds for r in runs.values() if r.seconds is not None]
    return {
        "jobs": count,
        "states": sorted(r.state or "?" for r in runs.values()),
        "makespan_s": (max(ends) - min(starts)).total_seconds(),
        "job_wall_s_sum": sum(walls),
        "job_wall_s_max": max(walls),
        "busy_slot_s": sampler.busy_seconds,
        "peak_busy_slots": sampler.peak,
    }


def run(quick: bool = False) -> dict[str, Any]:
    from rdfox_local.stack.demo import Demo

    from bench._airflow_services import AirflowServices, faulty_stack

    jobs = 3 if quick else JOBS
    pod_s = 5.0 if quick else POD_SECONDS
    load_s = 5.0 if quick else LOAD_SECONDS
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-deferral-") as tmp:
        stack = faulty_stack(Path(tmp), pod_seconds=pod_s)
        state = stack.up(log=lambda _m: None)
        services = None
        try:
            demo = Demo(stack, state, transactions=200, log=lambda _m: None)
            data_dir = Path(tmp) / "generated"
            data_dir.mkdir()
            for path in demo.generate(data_dir) + demo.sample_files():
                demo.s3.upload_file(str(path), demo.resources["input_bucket"], f"{DATASET}/{path.name}")
            _post(state.servers["neptune"].url + "/_emulator/throttle", {"seconds": load_s})
            services = AirflowServices(
                stack, parallelism=SLOTS, extra_env={"RDFOX_PIPELINE_JOBSPEC_QUEUE_URL": ""}
            )
            services.start()
            jobspec = {
                "dataset": DATASET,
                "job_bucket": demo.resources["input_bucket"],
                "output_bucket": demo.resources["output_bucket"],
                "resources": {"cores": 1, "memory": "1Gi"},
            }
            alone = _batch(services, jobspec, 1, timeout=900)
            many = _batch(services, jobspec, jobs, timeout=900 + jobs * (load_s + 60))
        finally:
            if services is not None:
                services.stop()
            stack.down(log=lambda _m: None)
    one_job_s = alone["makespan_s"]
    ratio = many["makespan_s"] / one_job_s
    slot_pct = 100.0 * many["busy_slot_s"] / many["job_wall_s_sum"]
    failed = [s for s in many["states"] + alone["states"] if s != "success"]
    neptune_floor_s = jobs * load_s
    notes = []
    if ratio > GOAL_MAKESPAN_RATIO:
        notes.append(
            f"Neptune runs one load at a time: {jobs} loads of {load_s:.0f} s need >= "
            f"{neptune_floor_s:.0f} s (= {neptune_floor_s / one_job_s:.1f} x one job) whatever the workers do"
        )
    if slot_pct > GOAL_SLOT_PERCENT:
        per_job = many["busy_slot_s"] / jobs
        notes.append(
            f"{per_job:.0f} worker-slot s per job: the start-up of each of the DAG's task processes holds a "
            "slot (waiting does not: the pod and the load are deferred); it is a fixed cost per job, so "
            "the share falls as jobs get longer"
        )
    if failed:
        notes.append(f"runs not successful: {failed}")
    details = {
        "jobs": jobs,
        "worker_slots": SLOTS,
        "pod_extra_seconds": pod_s,
        "load_seconds": load_s,
        "alone": alone,
        "batch": many,
        "neptune_serial_floor_s": neptune_floor_s,
        "seconds_total": round(time.monotonic() - started, 1),
    }
    return {
        "figures": [
            figure(
                f"deferral: makespan of {jobs} jobs / one job",
                round(ratio, 2),
                goal=GOAL_MAKESPAN_RATIO,
                reason="; ".join(notes[:1]) or None,
                one_job_s=round(one_job_s, 1),
                makespan_s=round(many["makespan_s"], 1),
            ),
            figure(
                "deferral: worker-slot s / job wall s",
                round(slot_pct, 1),
                unit="%",
                goal=GOAL_SLOT_PERCENT,
                reason="; ".join(notes[1:]) or None,
                busy_slot_s=round(many["busy_slot_s"], 1),
                job_wall_s_sum=round(many["job_wall_s_sum"], 1),
            ),
        ],
        **details,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=2, default=str))
