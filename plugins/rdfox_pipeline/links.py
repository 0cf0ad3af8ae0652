"""Operator extra links: buttons on a task in the Airflow UI that open the job's outputs, load and pod.

How links work in Airflow 3: when a task ends (also when it defers), the *worker* calls each link's
``get_link(operator, ti_key=<the running task instance>)`` and stores the URL in XCom under the link's
``xcom_key``; the API server only reads that XCom back. So ``get_link`` runs with the executed operator
(rendered templates, attributes set by ``execute``) and may read XCom, but it must never fail the task and
never put a secret in the URL: every link below returns ``""`` (a greyed-out button) when it cannot tell.

- ``JobOutputsLink``: the S3 console at the job's output prefix ``s3://<output>/<dataset>/<job_id>/``;
- ``RdfoxLogLink``: rdfox.log in the S3 console (``register_job``'s ``rdfox_log_uri``): what RDFox said;
- ``NeptuneLoadStatusLink``: the loader status endpoint ``<cluster>/loader/<loadId>?details=true&errors=true``
  (it answers only inside the cluster's VPC, and wants SigV4 when the cluster uses IAM auth);
- ``RdfoxPodLink``: the pod in the EKS console (EKS route only: the plain Kubernetes route has no console).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from airflow.sdk import BaseOperatorLink

log = logging.getLogger(__name__)

AWS_CONSOLE = "https://console.aws.amazon.com"
RETURN_VALUE_KEY = "return_value"


# -- URLs (pure functions: what the links render) -----------------------------------------------------------


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix/")``; ValueError when not an S3 URI."""
    if not uri.startswith("s3://") or not uri[len("s3://") :].split("/", 1)[0]:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def s3_console_url(uri: str, region: str | None = None) -> str:
    """The S3 console's view of a bucket prefix (``region`` spares the console a redirect)."""
    bucket, prefix = split_s3_uri(uri)
    query = {"region": region} if region else {}
    if prefix:
        query["prefix"] = prefix
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{AWS_CONSOLE}/s3/buckets/{quote(bucket, safe='')}{suffix}"


def s3_object_console_url(uri: str, region: str | None = None) -> str:
    """The S3 console's page of one object (its properties, with Download and Open)."""
    bucket, key = split_s3_uri(uri)
    if not key or key.endswith("/"):
        raise ValueError(f"not an object's s3:// URI: {uri!r}")
    query = {"region": region} if region else {}
    query["prefix"] = key
    return f"{AWS_CONSOLE}/s3/object/{quote(bucket, safe='')}?{urlencode(query)}"


def neptune_load_status_url(base_url: str, load_id: str) -> str:
    """Neptune's GET /loader/{loadId} with the details and errors the loader can add."""
    query = urlencode({"details": "true", "errors": "true"})
    return f"{base_url.rstrip('/')}/loader/{quote(load_id, safe='')}?{query}"


def eks_pod_console_url(region: str, cluster: str, namespace: str, pod: str) -> str:
    """The EKS console's page of one pod (Resources > Pods)."""
    path = "/".join(quote(part, safe="") for part in ("clusters", cluster, "pods", namespace, pod))
    return f"{AWS_CONSOLE}/eks/home?{urlencode({'region': region})}#/{path}"


# -- where the values come from ----------------------------------------------------------------------------


def _xcom(ti_key: Any, key: str) -> Any:
    """An XCom of the task instance the link is rendered for (the running task's, on the worker)."""
    # The configured XCom backend, as the Amazon provider's links read it (via common.compat, which this
    # package does not otherwise need on MWAA).
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key=key)


def _settings(operator: Any) -> Any:
    """The operator's resolved settings when it has them (the pod operator keeps its job's), else the
    pipeline's settings (cached per process, so the link adds no SSM call after the task's own)."""
    job_settings = getattr(operator, "_job_settings", None)
    if callable(job_settings):
        return job_settings()
    from rdfox_pipeline.aws.settings_loader import load_settings

    return load_settings(aws_conn_id=getattr(operator, "aws_conn_id", None))


def _region(operator: Any) -> str | None:
    try:
        region = _settings(operator).aws_default_region
    except Exception:  # a region only makes the URL nicer: never fail a link for it
        region = None
    return region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or None


class _SafeLink(BaseOperatorLink):
    """A link that renders ``""`` instead of raising: a missing value must not look like a task error."""

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        try:
            return self.render(operator, ti_key) or ""
        except Exception as exc:
            log.info("%s: no link for task %s: %s", self.name, getattr(operator, "task_id", "?"), exc)
            return ""

    def render(self, operator: Any, ti_key: Any) -> str | None:
        raise NotImplementedError


class JobOutputsLink(_SafeLink):
    """The job's output prefix in the S3 console, from ``register_job``'s registration."""

    name = "Job outputs (S3)"

    def render(self, operator: Any, ti_key: Any) -> str | None:
        registration = getattr(operator, "registration", None)
        if not isinstance(registration, Mapping) or not registration.get("output_prefix"):
            return None
        return s3_console_url(str(registration["output_prefix"]), _region(operator))


class RdfoxLogLink(_SafeLink):
    """The job's rdfox.log in the S3 console, from ``register_job``'s registration (published by the pod,
    also when the reasoning failed)."""

    name = "rdfox.log (S3)"

    def render(self, operator: Any, ti_key: Any) -> str | None:
        registration = getattr(operator, "registration", None)
        if not isinstance(registration, Mapping) or not registration.get("rdfox_log_uri"):
            return None
        return s3_object_console_url(str(registration["rdfox_log_uri"]), _region(operator))


class NeptuneLoadStatusLink(_SafeLink):
    """Neptune's status endpoint of the task's load: the sensor's ``load_id``, or the id the load
    operator returned (its XCom)."""

    name = "Neptune load status"

    def render(self, operator: Any, ti_key: Any) -> str | None:
        load_id = getattr(operator, "load_id", None)
        if not isinstance(load_id, str) or not load_id or "{{" in load_id:
            load_id = _xcom(ti_key, RETURN_VALUE_KEY)
        if not isinstance(load_id, str) or not load_id:
            return None
        from rdfox_pipeline.hooks.neptune_loader import NeptuneLoaderHook

        base_url = NeptuneLoaderHook(operator.neptune_conn_id).endpoint.base_url
        return neptune_load_status_url(base_url, load_id)


class RdfoxPodLink(_SafeLink):
    """The job's RDFox pod in the EKS console (EKS route: the CLUSTER_NAME setting is set)."""

    name = "RDFox pod (EKS)"

    def render(self, operator: Any, ti_key: Any) -> str | None:
        metadata = getattr(getattr(operator, "pod", None), "metadata", None)
        pod_name = getattr(metadata, "name", None)
        namespace = getattr(metadata, "namespace", None) or getattr(operator, "namespace", None)
        if not pod_name or not namespace:
            return None
        cluster = getattr(operator, "cluster_name", None) or _settings(operator).cluster_name
        region = getattr(operator, "region", None) or _region(operator)
        if not cluster or not region:
            return None
        return eks_pod_console_url(region, cluster, namespace, pod_name)


ALL_LINKS = (JobOutputsLink(), RdfoxLogLink(), NeptuneLoadStatusLink(), RdfoxPodLink())
