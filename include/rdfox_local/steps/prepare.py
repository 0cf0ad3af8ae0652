"""The prepare step: copy ``s3://JOB_BUCKET/DATASET/`` into DATA_DIR and write SCRIPTS_DIR/job.rdfox.

Environment: JOB_BUCKET, DATASET (required); JOB_ID (for messages); DATA_DIR (/data), SCRIPTS_DIR (/scripts),
OUTPUT_DIR (/output); RDFOX_PREFIXES (JSON object prefix name -> IRI the script declares; unset: the
old pod's four, ``rdfox_pipeline.domain.prefixes.DEFAULT_PREFIXES``).

Old-style ``SELECT ?S ?P ?O`` queries are rewritten in DATA_DIR into the equivalent CONSTRUCT before RDFox
sees them (see docs/pod.md "Old-style SELECT queries").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from rdfox_pipeline.domain.prefixes import DEFAULT_PREFIXES, parse_prefixes
from rdfox_pipeline.pod.script import (
    classify_dataset_files,
    generate_rdfox_script,
    triple_select_as_construct,
)

from rdfox_local.steps._common import StepError, check_dataset, environ, fail, require_env, s3_client, say

STEP = "prepare"
SCRIPT_NAME = "job.rdfox"


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under the prefix (paginated: a dataset can hold thousands of part files)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", ()))
    return keys


def safe_relative(key: str, prefix: str) -> str:
    """The key relative to the dataset prefix; refuses anything that would land outside DATA_DIR."""
    relative = key[len(prefix) :]
    parts = PurePosixPath(relative).parts
    if relative.startswith("/") or ".." in parts or "\\" in relative or "\x00" in relative:
        raise StepError(f"refusing S3 key {key!r}: it would be written outside the data directory")
    return relative


def _prefixes(env: Mapping[str, str]) -> dict[str, str]:
    raw = env.get("RDFOX_PREFIXES", "").strip()
    if not raw:
        return dict(DEFAULT_PREFIXES)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise StepError(f"RDFOX_PREFIXES is not valid JSON: {exc}") from None
    try:
        return parse_prefixes(value)
    except ValueError as exc:
        raise StepError(f"RDFOX_PREFIXES: {exc}") from None


def rewrite_triple_selects(data_dir: Path, queries: Iterable[str]) -> list[str]:
    """Rewrite old ``SELECT ?S ?P ?O`` query files in place as CONSTRUCT; returns the rewritten names."""
    rewritten = []
    for name in queries:
        path = data_dir / name
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise StepError(f"query file {name!r} is not UTF-8 text") from None
        construct = triple_select_as_construct(text)
        if construct is not None:
            path.write_text(construct, encoding="utf-8")
            rewritten.append(name)
    return rewritten


def download(s3: Any, bucket: str, pairs: Iterable[tuple[str, str]], data_dir: Path) -> int:
    count = 0
    for key, relative in pairs:
        target = data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
        count += 1
    return count


def prepare(env: Mapping[str, str], s3: Any | None = None) -> Path:
    """Do the step; returns the script's path. Raises StepError with a one-line reason."""
    bucket = require_env(env, "JOB_BUCKET")
    dataset = check_dataset(require_env(env, "DATASET"))
    data_dir = Path(env.get("DATA_DIR") or "/data")
    scripts_dir = Path(env.get("SCRIPTS_DIR") or "/scripts")
    output_dir = Path(env.get("OUTPUT_DIR") or "/output")
    prefixes = _prefixes(env)
    s3 = s3 or s3_client()
    prefix = f"{dataset}/"

    keys = list_keys(s3, bucket, prefix)
    if not keys:
        raise StepError(f"s3://{bucket}/{prefix} is empty or does not exist")
    relative = {safe_relative(key, prefix): key for key in keys}
    files = classify_dataset_files(relative)
    rules, data, queries, counts = files
    for name, reason in files.ignored:
        say(STEP, f"ignoring {name!r} ({reason})")
    if not data:
        raise StepError(
            f"s3://{bucket}/{prefix} holds no data files (.nt .ttl .nq .trig .owl .rdf .n3, optionally .gz); "
            f"found {len(keys)} object(s)"
        )
    if not queries:
        say(STEP, "warning: no *.rq queries: the job will publish only rdfox.log")

    wanted = [*rules, *data, *queries, *counts]
    total = download(s3, bucket, ((relative[r], r) for r in wanted), data_dir)
    say(
        STEP,
        f"downloaded {total} file(s) from s3://{bucket}/{prefix}: {len(rules)} rule, {len(data)} data, "
        f"{len(queries)} query, {len(counts)} count-query file(s)",
    )

    for name in rewrite_triple_selects(data_dir, queries):
        say(STEP, f"{name}: SELECT of three variables answered as the equivalent CONSTRUCT (N-Triples)")

    script = generate_rdfox_script(
        rule_files=rules,
        data_files=data,
        query_files=queries,
        count_query_files=counts,
        prefixes=prefixes,
        data_dir=str(data_dir),
        output_dir=str(output_dir),
        scripts_dir=str(scripts_dir),
    )
    scripts_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "data").mkdir(parents=True, exist_ok=True)  # RDFox writes answers there, never creates it
    path = scripts_dir / SCRIPT_NAME
    path.write_text(script, encoding="utf-8")
    say(STEP, f"wrote {path} for job {env.get('JOB_ID', '?')}")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # configured by the environment only
    try:
        prepare(environ())
    except StepError as exc:
        fail(STEP, str(exc))
        return 1
    except ValueError as exc:  # from the script generator: an unusable file name
        fail(STEP, str(exc))
        return 1
    except Exception as exc:  # botocore errors: one line, no traceback with request details
        fail(STEP, f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
