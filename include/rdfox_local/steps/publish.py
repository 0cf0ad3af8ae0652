"""The publish step (the pod's main container): upload OUTPUT_DIR/data/* and rdfox.log, exit as RDFox did.

Environment: OUTPUT_BUCKET, DATASET, JOB_ID (required); OUTPUT_DIR (/output); RDFOXLOG_NAME (rdfox.log).
Uploads go to ``s3://OUTPUT_BUCKET/DATASET/JOB_ID/``: answers under ``data/`` first and the log last, because
the pipeline's log sensor treats the log's arrival as "outputs complete".
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdfox_local.steps._common import StepError, check_dataset, environ, fail, require_env, s3_client, say

STEP = "publish"
UPLOAD_ATTEMPTS = 3
EXIT_KILLED = 137  # 128 + SIGKILL: what the kernel's OOM killer leaves behind
EXIT_UPLOAD_FAILED = 1


@dataclass(frozen=True)
class PublishResult:
    uploaded: tuple[str, ...]
    rdfox_exit: int | None
    problems: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        # RDFox's failure is the more useful status; otherwise any problem here fails the pod.
        if self.rdfox_exit:
            return self.rdfox_exit
        return EXIT_UPLOAD_FAILED if self.problems or self.rdfox_exit is None else 0


def upload_with_retries(
    s3: Any, path: Path, bucket: str, key: str, *, attempts: int = UPLOAD_ATTEMPTS, pause: float = 1.0
) -> None:
    for attempt in range(1, attempts + 1):
        try:
            s3.upload_file(str(path), bucket, key)
            return
        except Exception as exc:  # boto3's S3UploadFailedError, ClientError, connection errors
            if attempt == attempts:
                raise StepError(
                    f"upload of {path.name} to s3://{bucket}/{key} failed {attempts} times: {exc}"
                ) from exc
            time.sleep(pause * attempt)


def read_rdfox_exit(output_dir: Path) -> tuple[int | None, str | None]:
    path = output_dir / "rdfox.exitcode"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None, f"{path} is missing: the rdfox step did not record an exit status"
    try:
        return int(text), None
    except ValueError:
        return None, f"{path} holds {text!r}, not an exit status"


def describe_rdfox_exit(code: int) -> str:
    if code == 0:
        return "RDFox finished successfully"
    if code == EXIT_KILLED:
        return f"RDFox was killed (likely OOMKilled: raise resources.memory) (exit {code})"
    if code > 128:
        return f"RDFox was killed by signal {code - 128} (exit {code})"
    return f"RDFox failed with exit status {code}: see rdfox.log"


def publish(env: Mapping[str, str], s3: Any | None = None) -> PublishResult:
    bucket = require_env(env, "OUTPUT_BUCKET")
    dataset = check_dataset(require_env(env, "DATASET"))
    job_id = require_env(env, "JOB_ID")
    if "/" in job_id or ".." in job_id:
        raise StepError(f"JOB_ID {job_id!r} must not contain '/' or '..'")
    output_dir = Path(env.get("OUTPUT_DIR") or "/output")
    log_name = env.get("RDFOXLOG_NAME") or "rdfox.log"
    s3 = s3 or s3_client()
    prefix = f"{dataset}/{job_id}/"

    rdfox_exit, exit_problem = read_rdfox_exit(output_dir)
    problems: list[str] = [exit_problem] if exit_problem else []
    uploaded: list[str] = []
    data_dir = output_dir / "data"
    files = sorted(p for p in data_dir.rglob("*") if p.is_file()) if data_dir.is_dir() else []
    for path in files:
        key = prefix + "data/" + path.relative_to(data_dir).as_posix()
        try:
            upload_with_retries(s3, path, bucket, key)
            uploaded.append(key)
        except StepError as exc:
            problems.append(str(exc))
    log_path = output_dir / "rdfox.log"
    if log_path.is_file():
        try:
            upload_with_retries(s3, log_path, bucket, prefix + log_name)
            uploaded.append(prefix + log_name)
        except StepError as exc:
            problems.append(str(exc))
    else:
        problems.append(f"{log_path} is missing: the rdfox step wrote no log (nothing to diagnose with)")
    return PublishResult(tuple(uploaded), rdfox_exit, tuple(problems))


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # configured by the environment only
    try:
        result = publish(environ())
    except StepError as exc:
        fail(STEP, str(exc))
        return EXIT_UPLOAD_FAILED
    for key in result.uploaded:
        say(STEP, f"uploaded {key}")
    for problem in result.problems:
        fail(STEP, problem)
    if result.rdfox_exit is not None:
        message = describe_rdfox_exit(result.rdfox_exit)
        (say if result.rdfox_exit == 0 else fail)(STEP, message)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
