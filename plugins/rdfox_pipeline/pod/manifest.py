"""The RDFox pod manifest: prepare -> rdfox (init containers) -> publish (the main container ``base``).

Pure: a dict ready for the Kubernetes API (or ``KubernetesPodOperator(pod_template_dict=...)``).
Why publish is the *main* container: the operator watches ``base`` and deletes the pod only after it ends,
so the outputs (and the log of a failed reasoning) are uploaded before anything can delete the pod.
"""

from __future__ import annotations

import json
import math
import shlex
from decimal import Decimal
from typing import Any

from rdfox_pipeline.domain.jobspec import JobSpec
from rdfox_pipeline.domain.prefixes import merge_prefixes
from rdfox_pipeline.domain.settings import Settings
from rdfox_pipeline.domain.validators import quantity_bytes
from rdfox_pipeline.pod.names import label_value, pod_name_for

BASE_CONTAINER = "base"  # the KubernetesPodOperator's default base_container_name
DATA_DIR = "/data"
SCRIPTS_DIR = "/scripts"
OUTPUT_DIR = "/output"
TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir mount, private to the pod  # nosec B108
SCRIPT_PATH = f"{SCRIPTS_DIR}/job.rdfox"
RDFOX_LOG = f"{OUTPUT_DIR}/rdfox.log"
RDFOX_EXITCODE = f"{OUTPUT_DIR}/rdfox.exitcode"
RDFOX_BINARY = "/opt/RDFox/RDFox"  # entrypoint of the official oxfordsemantic/rdfox image
LICENSE_SECRET_KEY = "RDFox.lic"  # noqa: S105 - a Secret key name, not a secret  # nosec B105
POD_UID = 1000  # the non-root user of our step images (and the UID we ask RDFox's image to run as)

LABEL_JOB_ID = "rdfox-pipeline/job-id"
LABEL_DATASET = "rdfox-pipeline/dataset"
LABEL_COMPONENT = "app.kubernetes.io/component"
ANNOTATION_JOB_ID = "rdfox-pipeline/job-id"

# Step containers only move files: small, fixed, requests == limits (Guaranteed QoS needs it everywhere).
STEP_RESOURCES = {"cpu": "500m", "memory": "512Mi"}
# Disk bounds of the small volumes (the script, HOME); /data and /output come from settings.
SCRIPTS_VOLUME_LIMIT = "64Mi"
TMP_VOLUME_LIMIT = "1Gi"
CONTAINER_STORAGE_MARGIN = Decimal(256 * 2**20)  # container logs (kubelet counts them too)
BATCH_VOLUMES = ("data", "scripts", "output", "tmp")

# The rdfox wrapper: RDFox's own exit status is kept in a file and the container always succeeds, so that
# publish (the main container) still runs and uploads the log of a failed run, then fails the pod itself.
RDFOX_WRAPPER = (
    'rdfox_bin="${RDFOX_BIN:-' + RDFOX_BINARY + '}"; '
    f'"$rdfox_bin" sandbox {DATA_DIR} {shlex.quote("exec " + SCRIPT_PATH)} > {RDFOX_LOG} 2>&1; '
    f"echo $? > {RDFOX_EXITCODE}; "
    "exit 0"
)


def _mounts(*names: str, read_only: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    paths = {"data": DATA_DIR, "scripts": SCRIPTS_DIR, "output": OUTPUT_DIR, "tmp": TMP_DIR}
    return [
        {"name": name, "mountPath": paths[name], **({"readOnly": True} if name in read_only else {})}
        for name in names
    ]


def _env(**values: str | None) -> list[dict[str, Any]]:
    return [{"name": key, "value": str(value)} for key, value in values.items() if value is not None]


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    # optional: a cluster without a license secret still starts the pod, and RDFox's log says what is
    # missing (locally the emulator then runs the local reasoner instead of RDFox).
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}}}


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "privileged": False,
    }


def _resources(cpu: str, memory: str, storage: str) -> dict[str, Any]:
    amounts = {"cpu": cpu, "memory": memory, "ephemeral-storage": storage}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def volume_limits(settings: Settings, names: tuple[str, ...]) -> dict[str, str]:
    """Each emptyDir's ``sizeLimit``: the big ones from settings, the small ones fixed."""
    sizes = {
        "data": settings.pod_data_volume_limit,
        "output": settings.pod_output_volume_limit,
        "scripts": SCRIPTS_VOLUME_LIMIT,
        "tmp": TMP_VOLUME_LIMIT,
    }
    return {name: sizes[name] for name in names}


def container_storage(limits: dict[str, str]) -> str:
    """Every container's ephemeral-storage (request == limit): all of the pod's emptyDirs plus logs.

    emptyDirs count against the pod's ephemeral storage, and a pod's bound is its largest init container's or
    the sum of its containers': each container covering every volume keeps eviction from striking before a
    volume reaches its own ``sizeLimit``.
    """
    total = sum((quantity_bytes(size) for size in limits.values()), CONTAINER_STORAGE_MARGIN)
    return f"{math.ceil(total / 2**20)}Mi"


def empty_dirs(limits: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "emptyDir": {"sizeLimit": size}} for name, size in limits.items()]


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": POD_UID,
        "runAsGroup": POD_UID,
        "fsGroup": POD_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def rdfox_license_env(jobspec: JobSpec, settings: Settings) -> dict[str, Any]:
    """The license from its Secret (``RDFOX_LICENSE_CONTENT``: what RDFox images read).

    The batch RDFox gets nothing else: it runs in sandbox mode and serves no endpoint, so it needs no role
    or password (a reusable admin password in every batch pod would only be one more place to leak it).
    """
    license_secret = _pick(jobspec.rdfox.license_secret_name, settings.rdfox_license_secret)
    return _secret_env("RDFOX_LICENSE_CONTENT", license_secret, LICENSE_SECRET_KEY)


def job_labels(jobspec: JobSpec, job_id: str, component: str) -> dict[str, str]:
    return {
        LABEL_JOB_ID: label_value(job_id),
        LABEL_DATASET: label_value(jobspec.dataset),
        "app.kubernetes.io/name": "rdfox-pipeline",
        LABEL_COMPONENT: component,
    }


def build_pod_manifest(jobspec: JobSpec, job_id: str, settings: Settings) -> dict[str, Any]:
    """The Pod for one job: jobspec fields win over settings. Pure; no defaults read from anywhere else."""
    if not job_id:
        raise ValueError("job_id: must not be empty")
    images, kube, resources = jobspec.images, jobspec.kubernetes, jobspec.resources
    namespace = _pick(kube.namespace, settings.kubernetes_namespace)
    service_account = _pick(kube.service_account, settings.service_account)
    job_bucket = _pick(jobspec.job_bucket, settings.input_bucket)
    output_bucket = _pick(jobspec.output_bucket, settings.output_bucket)
    if job_bucket is None:
        raise ValueError("job_bucket: not in the jobspec and the INPUT_BUCKET setting is not configured")
    if output_bucket is None:
        raise ValueError("output_bucket: not in the jobspec and the OUTPUT_BUCKET setting is not configured")
    region = settings.aws_default_region
    limits = volume_limits(settings, BATCH_VOLUMES)
    storage = container_storage(limits)
    common_env = {
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "HOME": TMP_DIR,
        "LOG_LEVEL": settings.log_level.upper(),
    }

    prepare = {
        "name": "prepare",
        "image": _pick(images.prepare, settings.prepare_image),
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "rdfox_local.steps.prepare"],
        # A failed prepare's last log lines become its termination message, so the job record says why.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "env": _env(
            JOB_BUCKET=job_bucket,
            DATASET=jobspec.dataset,
            JOB_ID=job_id,
            DATA_DIR=DATA_DIR,
            SCRIPTS_DIR=SCRIPTS_DIR,
            OUTPUT_DIR=OUTPUT_DIR,
            JOBSPEC_NAME=settings.jobspec_name,
            # The script's prefixes: the setting's, plus the jobspec's own (same name: the jobspec's wins).
            RDFOX_PREFIXES=json.dumps(
                merge_prefixes(settings.rdfox_prefixes, jobspec.rdfox.prefixes), sort_keys=True
            ),
            **common_env,
        ),
        "resources": _resources(**STEP_RESOURCES, storage=storage),
        "securityContext": _container_security(),
        "volumeMounts": _mounts("data", "scripts", "output", "tmp"),
    }
    rdfox_container = {
        "name": "rdfox",
        "image": _pick(images.rdfox, settings.rdfox_image),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", RDFOX_WRAPPER],
        "env": [rdfox_license_env(jobspec, settings), *_env(HOME=TMP_DIR, JOB_ID=job_id)],
        "resources": _resources(str(resources.cores), resources.memory, storage),
        "securityContext": _container_security(),
        # /data is read and written by RDFox's sandbox; the script is read-only to it.
        "volumeMounts": _mounts("data", "scripts", "output", "tmp", read_only=("scripts",)),
    }
    publish = {
        "name": BASE_CONTAINER,
        "image": _pick(images.publish, settings.publish_image),
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "rdfox_local.steps.publish"],
        "env": _env(
            OUTPUT_BUCKET=output_bucket,
            DATASET=jobspec.dataset,
            JOB_ID=job_id,
            OUTPUT_DIR=OUTPUT_DIR,
            RDFOXLOG_NAME=settings.rdfoxlog_name,
            **common_env,
        ),
        "resources": _resources(**STEP_RESOURCES, storage=storage),
        "securityContext": _container_security(),
        "volumeMounts": _mounts("output", "tmp", read_only=("output",)),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name_for(job_id),
            "namespace": namespace,
            "labels": job_labels(jobspec, job_id, "reasoning"),
            "annotations": {ANNOTATION_JOB_ID: job_id},
        },
        "spec": {
            "restartPolicy": _pick(kube.restart_policy, "Never"),
            "serviceAccountName": service_account,
            # IRSA's web-identity token is injected by EKS's webhook on its own volume; the pod does not
            # talk to the Kubernetes API, so it gets no API token.
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security_context(),
            "initContainers": [prepare, rdfox_container],
            "containers": [publish],
            "volumes": empty_dirs(limits),
        },
    }
