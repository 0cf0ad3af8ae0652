"""DAG parse overhead: what importing ``dags/rdfox_neptune_pipeline.py`` costs beyond the floor that any DAG
built from the same operators pays (``airflow.sdk`` + the provider classes the DAG instantiates), and how many
sockets the parse opens (goal 0: MWAA parses the file constantly, a parse must do no I/O).

Each sample is one fresh interpreter that (1) imports the floor, (2) imports the DAG file; the figure is
the median over the samples of (2)'s time, i.e. DAG import minus floor import measured in the same process
(paired, so the noise of two different processes does not add up). An audit hook counts socket events
(``socket.__new__``, ``connect``, ``getaddrinfo``, ``bind``) while the DAG file runs; the floor's are kept as
a detail (urllib3 probes IPv6 with a socket when imported: a cost of the provider, paid before any DAG).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import figure, median

REPO = Path(__file__).resolve().parent.parent
DAG_FILE = REPO / "dags" / "rdfox_neptune_pipeline.py"
SAMPLES = int(os.environ.get("BENCH_DAG_PARSE_SAMPLES", "15"))
GOAL_MS = 50.0

# Run in the child: finds which provider (or SDK) classes the DAG's tasks are built from.
_DISCOVER = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bench_dag_under_test", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
from airflow.sdk import DAG
dags = [v for v in vars(mod).values() if isinstance(v, DAG)]
floor = set()
for dag in dags:
    for task in dag.tasks:
        # The most-derived class that Airflow itself ships (provider or SDK): the floor this task pays.
        for cls in type(task).__mro__:
            if cls.__module__.startswith(("airflow.providers.", "airflow.sdk", "airflow.models")):
                floor.add((cls.__module__, cls.__qualname__))
                break
print(json.dumps({"dags": [d.dag_id for d in dags], "tasks": sum(len(d.tasks) for d in dags),
                  "floor": sorted(floor)}))
"""

# Run in the child: one paired sample. Socket events are counted per phase: the floor's (e.g. urllib3 probes
# IPv6 support with a socket when boto3 is imported -- any DAG using the AWS provider pays it, and a DAG
# processor has done it long before) and the DAG file's own (the figure with goal 0).
_SAMPLE = r"""
import sys, time, json
EVENTS = ("socket.__new__", "socket.connect", "socket.getaddrinfo", "socket.bind")
counts = {"floor": dict.fromkeys(EVENTS, 0), "dag": dict.fromkeys(EVENTS, 0)}
phase = ["floor"]
where = []
def hook(event, args):
    if event in EVENTS:
        counts[phase[0]][event] += 1
        if phase[0] == "dag" and len(where) < 5:
            import traceback
            where.append(event + " " + repr(args)[:120] + " at " + "".join(traceback.format_stack(limit=8)))
sys.addaudithook(hook)
floor = json.loads(sys.argv[2])
t0 = time.perf_counter()
import importlib, importlib.util
import airflow.sdk
for module, qualname in floor:
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
t1 = time.perf_counter()
phase[0] = "dag"
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("bench_dag_under_test", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
t2 = time.perf_counter()
added = sorted(set(sys.modules) - before)
print(json.dumps({"floor_s": t1 - t0, "dag_s": t2 - t1, "sockets": counts["dag"],
                  "floor_sockets": counts["floor"], "where": where, "modules_added": added}))
"""


def _env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_ENDPOINT"))}
    env.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAG_FILE.parent),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        PYTHONDONTWRITEBYTECODE="",
    )
    return env


def _child(code: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300, cwd=REPO
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False, samples: int | None = None) -> dict[str, Any]:
    samples = samples or (3 if quick else SAMPLES)
    with tempfile.TemporaryDirectory(prefix="bench-dag-parse-") as home:
        env = _env(home)
        found = _child(_DISCOVER, str(DAG_FILE), env=env)  # also warms the bytecode caches
        floor = json.dumps(found["floor"])
        runs = [_child(_SAMPLE, str(DAG_FILE), floor, env=env) for _ in range(samples)]
    overhead_ms = median([r["dag_s"] for r in runs]) * 1000
    floor_ms = median([r["floor_s"] for r in runs]) * 1000
    # The worst sample: a socket opened in any parse counts, not just in the typical one.
    worst = max(runs, key=lambda r: sum(r["sockets"].values()))
    sockets = sum(worst["sockets"].values())
    added = runs[-1]["modules_added"]
    packages = sorted({".".join(m.split(".")[: 2 if m.startswith("airflow.") else 1]) for m in added})
    reason = None
    if overhead_ms > GOAL_MS:
        reason = f"the DAG file imports {len(added)} modules beyond the floor ({', '.join(packages)[:200]})"
    return {
        "figures": [
            figure(
                "DAG parse overhead (median)",
                round(overhead_ms, 1),
                unit="ms",
                goal=GOAL_MS,
                reason=reason,
                samples=samples,
                floor_ms=round(floor_ms, 1),
            ),
            figure(
                "sockets opened at DAG parse",
                sockets,
                goal=0,
                events=worst["sockets"],
                floor_events=worst["floor_sockets"],
            ),
        ],
        "floor_classes": found["floor"],
        "dags": found["dags"],
        "tasks": found["tasks"],
        "overhead_ms_samples": [round(r["dag_s"] * 1000, 1) for r in runs],
        "floor_ms_samples": [round(r["floor_s"] * 1000, 1) for r in runs],
        "socket_sites": worst["where"],
        "modules_added_by_dag": added,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
