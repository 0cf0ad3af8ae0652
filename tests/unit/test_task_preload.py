"""The local Airflow's task preload (rdfox_local/stack/task_preload.py): it names what a task imports.

If a module a task needs were missing from the list, nothing would fail: each task would import it again
(4 to 5 s of CPU). So the list is held to the code here: after importing it, parsing the DAG file and
importing every operator, sensor and hook module of the package import no heavy third-party module.
"""

from __future__ import annotations

import ast
import json
import subprocess  # nosec B404
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

DAG_FILE = REPO_ROOT / "dags" / "rdfox_neptune_pipeline.py"
# What a task should find already imported: the providers, the AWS SDKs and the Kubernetes client.
HEAVY_PREFIXES = ("airflow.providers.", "boto3", "botocore", "aiobotocore", "kubernetes", "requests_aws4auth")


def test_names_every_import_of_the_dag_file_at_any_depth(tmp_path) -> None:
    from rdfox_local.stack.task_preload import dag_file_imports, task_modules

    dag_like = tmp_path / "dag.py"
    dag_like.write_text(
        textwrap.dedent(
            """
            import os, json as j
            from airflow.sdk import DAG
            from . import sibling

            def build():
                from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator
                with DAG("x") as dag:
                    from airflow.providers.standard.operators.empty import EmptyOperator
            """
        )
    )
    found = list(dag_file_imports(dag_like))
    assert found.count("os") == 1 and "json" in found and "airflow.sdk" in found
    assert "rdfox_pipeline.operators.rdfox_pod" in found
    assert "airflow.providers.standard.operators.empty" in found
    assert not [m for m in found if "sibling" in m], "a relative import names no module to preload"
    modules = task_modules(dag_like)
    assert len(modules) == len(set(modules))
    assert "os" not in modules and "json" not in modules  # the standard library needs no preload
    assert modules[0] == "airflow.sdk"
    assert "rdfox_pipeline.hooks.job_metadata" in modules  # run-time imports come after the DAG's


def test_the_stack_starts_the_scheduler_with_the_preload() -> None:
    from rdfox_local.stack.stack import DAG_FILE as STACK_DAG_FILE
    from rdfox_local.stack.task_preload import task_modules

    assert (REPO_ROOT / "dags" / STACK_DAG_FILE) == DAG_FILE
    tree = ast.parse((REPO_ROOT / "include/rdfox_local/stack/stack.py").read_text())
    keys = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"AIRFLOW__SCHEDULER__MP_START_METHOD", "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"} <= keys
    assert "rdfox_pipeline.operators.rdfox_pod" in task_modules(DAG_FILE)


def test_docker_compose_preloads_the_same_modules() -> None:
    import yaml
    from rdfox_local.stack.task_preload import task_modules

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__SCHEDULER__MP_START_METHOD"] == "forkserver"
    listed = [m.strip() for m in env["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"].split(",")]
    assert listed == task_modules(DAG_FILE), "docker-compose.yaml's preload list is not task_preload's"


_AFTER_PRELOAD = r"""
import importlib, json, pkgutil, runpy, sys
from pathlib import Path
from rdfox_local.stack.task_preload import task_modules
for name in task_modules(Path(sys.argv[1])):
    importlib.import_module(name)
before = set(sys.modules)
runpy.run_path(sys.argv[1])
import rdfox_pipeline.operators, rdfox_pipeline.sensors, rdfox_pipeline.hooks
for package in (rdfox_pipeline.operators, rdfox_pipeline.sensors, rdfox_pipeline.hooks):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
print("NEW " + json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.slow  # a fresh interpreter importing Airflow and both providers (about 10 s of CPU)
def test_after_the_preload_a_task_imports_no_provider_or_sdk() -> None:
    done = subprocess.run(  # nosec B603
        [sys.executable, "-c", _AFTER_PRELOAD, str(DAG_FILE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("NEW "))
    new = json.loads(line[4:])
    heavy = [m for m in new if m.startswith(HEAVY_PREFIXES)]
    assert heavy == [], f"imported by a task although the preload should have: {heavy}"
