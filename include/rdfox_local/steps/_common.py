"""What both steps need: required environment variables, an S3 client, one-line messages."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any


class StepError(Exception):
    """A failure the step reports as one line and a non-zero exit status."""


def require_env(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise StepError(f"environment variable {name} is not set")
    return value


def check_dataset(dataset: str) -> str:
    # The dataset is an S3 prefix component: a '/' or '..' would read or write outside it.
    if "/" in dataset or ".." in dataset:
        raise StepError(f"DATASET {dataset!r} must not contain '/' or '..'")
    return dataset


def s3_client() -> Any:
    """boto3's S3 client; honours AWS_ENDPOINT_URL (local runs) and retries throttling and 5xx itself."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def say(step: str, message: str) -> None:
    print(f"{step}: {message}", flush=True)


def fail(step: str, message: str) -> None:
    print(f"{step}: error: {message}", file=sys.stderr, flush=True)


def environ() -> Mapping[str, str]:
    return os.environ
