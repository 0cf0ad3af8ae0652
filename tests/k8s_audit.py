"""What the Kubernetes emulator's audit log says about a job's pods (shared by the live-Airflow tests)."""

from __future__ import annotations

import json
from pathlib import Path

from rdfox_pipeline.pod.names import pod_name_for


def pods_created_for(k8s_dir: Path, job_id: str) -> list[str]:
    """Names of every pod ever created for the job (deleted ones too), in creation order."""
    audit = Path(k8s_dir) / "state" / "audit.jsonl"
    prefix = pod_name_for(job_id) + "-"
    entries = [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]
    return [
        e["name"]
        for e in entries
        if e["method"] == "POST" and e["code"] == 201 and str(e.get("name", "")).startswith(prefix)
    ]
