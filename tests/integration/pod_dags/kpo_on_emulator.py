"""Test DAG: the unmodified KubernetesPodOperator (deferrable) running our pod manifest on the emulator.

Configured by the JSON file named in POD_TEST_CONFIG: {"jobspec": {...}, "job_id": "...", "settings": {...}}.
Read at parse time on purpose: this DAG exists only for `airflow dags test` in tests.
"""

from __future__ import annotations

import json
import os
from datetime import datetime

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG

from rdfox_pipeline.domain.jobspec import parse_jobspec
from rdfox_pipeline.domain.settings import resolve_settings
from rdfox_pipeline.pod.manifest import build_pod_manifest

with open(os.environ["POD_TEST_CONFIG"], encoding="utf-8") as handle:
    config = json.load(handle)
jobspec = parse_jobspec(config["jobspec"])
settings = resolve_settings({**config.get("settings", {}), **jobspec.setting_overrides()})
manifest = build_pod_manifest(jobspec, config["job_id"], settings)

with DAG(dag_id="kpo_on_emulator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    KubernetesPodOperator(
        task_id="reason",
        kubernetes_conn_id="kubernetes_default",
        pod_template_dict=manifest,
        namespace=manifest["metadata"]["namespace"],
        name=manifest["metadata"]["name"],
        deferrable=True,
        poll_interval=1,
        startup_check_interval_seconds=1,
        startup_timeout_seconds=config.get("startup_timeout", 60),
        schedule_timeout_seconds=config.get("startup_timeout", 60),
        get_logs=True,
        on_finish_action="delete_pod",
        retries=0,
    )
