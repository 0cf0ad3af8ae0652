"""Settings at run time: SSM Parameter Store path ``/parameter/pipeline_control/`` (read lazily, once per
process), then the environment, then defaults; per-job overrides (a jobspec) win over all three.

Never called at import: DAG parsing must not touch AWS.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rdfox_pipeline.domain.settings import SETTINGS, SSM_PATH, Settings, resolve_settings

if TYPE_CHECKING:
    from rdfox_pipeline.domain.jobspec import JobSpec

log = logging.getLogger(__name__)

_lock = threading.Lock()
_ssm_cache: dict[str | None, dict[str, str]] = {}


class SettingsLoadError(RuntimeError):
    """SSM could not be read (other than the path being absent)."""


def _ssm_client(aws_conn_id: str | None) -> Any:
    if aws_conn_id:
        # The Airflow connection carries endpoint_url/region/credentials; imported here so that the domain
        # and the CLI stay free of Airflow.
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=aws_conn_id, client_type="ssm").get_conn()
    import boto3  # honours AWS_ENDPOINT_URL and AWS_DEFAULT_REGION

    return boto3.client("ssm")


def fetch_ssm_parameters(client: Any, path: str = SSM_PATH) -> dict[str, str]:
    """Every parameter directly under ``path``, keyed by its last name segment. A missing path is empty."""
    values: dict[str, str] = {}
    paginator = client.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=path.rstrip("/") or "/", Recursive=False, WithDecryption=True):
        for parameter in page.get("Parameters", []):
            values[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        # Names only: values may be SecureStrings.
        log.warning("ignoring unknown SSM parameters under %s: %s", path, ", ".join(unknown))
    return values


def ssm_settings(aws_conn_id: str | None = None) -> dict[str, str]:
    """The SSM layer, fetched on first use and cached for the life of the process."""
    with _lock:
        if aws_conn_id not in _ssm_cache:
            try:
                _ssm_cache[aws_conn_id] = fetch_ssm_parameters(_ssm_client(aws_conn_id))
            except Exception as exc:
                # botocore errors carry no secrets; the type and message say what to fix.
                raise SettingsLoadError(f"cannot read SSM {SSM_PATH}: {type(exc).__name__}: {exc}") from exc
            log.info("read %d settings from SSM %s", len(_ssm_cache[aws_conn_id]), SSM_PATH)
        return dict(_ssm_cache[aws_conn_id])


def clear_settings_cache() -> None:
    """Forget the SSM layer (tests; a long-lived process that must see new parameters)."""
    with _lock:
        _ssm_cache.clear()


def load_settings(
    overrides: Mapping[str, object] | JobSpec | None = None,
    *,
    aws_conn_id: str | None = None,
    env: Mapping[str, str] | None = None,
    check_images: bool = True,
) -> Settings:
    """Resolve settings: overrides (a jobspec or SETTING_NAME -> value) > SSM > environment > default."""
    if overrides is not None and not isinstance(overrides, Mapping):
        overrides = overrides.setting_overrides()
    return resolve_settings(
        overrides,
        ssm=ssm_settings(aws_conn_id),
        env=os.environ if env is None else env,
        check_images=check_images,
    )
