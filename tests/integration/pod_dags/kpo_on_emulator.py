"""Test DAG: the RDFox pod on the Kubernetes emulator, one task per scenario, in one ``airflow dags test``.

Configured by the JSON file named in POD_TEST_CONFIG: ``{"tasks": [...]}``, each task either
``{"task_id", "kind": "kpo", "jobspec", "job_id", "settings"}`` -- the unmodified cncf-kubernetes
``KubernetesPodOperator`` (deferrable) given our pod manifest -- or ``{"task_id", "kind": "rdfox",
"registration"}`` -- the pipeline's ``RdfoxPodOperator`` as the real DAG uses it. Read at parse time on
purpose: this DAG exists only for tests.
"""

from __future__ import annotations

import json
import os
from datetime import datetime

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG
from rdfox_pipeline.domain.jobspec import parse_jobspec
from rdfox_pipeline.domain.settings import resolve_settings
from rdfox_pipeline.operators.rdfox_pod import RdfoxPodOperator
from rdfox_pipeline.pod.manifest import build_pod_manifest

with open(os.environ["POD_TEST_CONFIG"], encoding="utf-8") as handle:
    config = json.load(handle)

FAST = {"poll_interval": 1, "startup_check_interval_seconds": 1, "retries": 0}

with DAG(dag_id="kpo_on_emulator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    for task in config["tasks"]:
        if task["kind"] == "rdfox":
            RdfoxPodOperator(task_id=task["task_id"], registration=task["registration"], **FAST)
            continue
        jobspec = parse_jobspec(task["jobspec"])
        settings = resolve_settings({**task.get("settings", {}), **jobspec.setting_overrides()})
        manifest = build_pod_manifest(jobspec, task["job_id"], settings)
        KubernetesPodOperator(
            task_id=task["task_id"],
            kubernetes_conn_id="kubernetes_default",
            pod_template_dict=manifest,
            namespace=manifest["metadata"]["namespace"],
            name=manifest["metadata"]["name"],
            deferrable=True,
            startup_timeout_seconds=120,
            get_logs=True,
            on_finish_action="delete_pod",
            **FAST,
        )
