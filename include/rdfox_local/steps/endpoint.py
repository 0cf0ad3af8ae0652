"""The endpoint pod's fetch step: copy a job's published answers into DATA_DIR and write the endpoint script.

Environment: OUTPUT_BUCKET, DATASET, JOB_ID (required); DATA_DIR (/data), SCRIPTS_DIR (/scripts).
Reads ``s3://OUTPUT_BUCKET/DATASET/JOB_ID/data/`` -- exactly what the job published -- and nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rdfox_pipeline.pod.script import generate_endpoint_script

from rdfox_local.steps._common import StepError, check_dataset, environ, fail, require_env, s3_client, say
from rdfox_local.steps.prepare import download, list_keys, safe_relative

STEP = "endpoint"
SCRIPT_NAME = "endpoint.rdfox"


def fetch(env: Mapping[str, str], s3: Any | None = None) -> Path:
    """Do the step; returns the script's path. Raises StepError with a one-line reason."""
    bucket = require_env(env, "OUTPUT_BUCKET")
    dataset = check_dataset(require_env(env, "DATASET"))
    job_id = require_env(env, "JOB_ID")
    if "/" in job_id or ".." in job_id:
        raise StepError(f"JOB_ID {job_id!r} must not contain '/' or '..'")
    data_dir = Path(env.get("DATA_DIR") or "/data")
    scripts_dir = Path(env.get("SCRIPTS_DIR") or "/scripts")
    s3 = s3 or s3_client()
    prefix = f"{dataset}/{job_id}/data/"
    keys = [key for key in list_keys(s3, bucket, prefix) if not key.endswith("/")]
    if not keys:
        raise StepError(f"s3://{bucket}/{prefix} holds no published answers to serve")
    relative = {safe_relative(key, prefix): key for key in keys}
    total = download(s3, bucket, ((key, rel) for rel, key in sorted(relative.items())), data_dir)
    say(STEP, f"downloaded {total} published file(s) from s3://{bucket}/{prefix}")
    scripts_dir.mkdir(parents=True, exist_ok=True)
    path = scripts_dir / SCRIPT_NAME
    path.write_text(generate_endpoint_script(data_files=sorted(relative), data_dir=str(data_dir)), "utf-8")
    say(STEP, f"wrote {path}")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # configured by the environment only
    try:
        fetch(environ())
    except (StepError, ValueError) as exc:
        fail(STEP, str(exc))
        return 1
    except Exception as exc:  # botocore errors: one line, no traceback with request details
        fail(STEP, f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
