"""`rdfox-pipeline endpoint list|start|delete|reap`: kept-up RDFox endpoints for investigators (docs/pod.md).

An endpoint is a pod of its own (label ``app.kubernetes.io/component=endpoint``) that serves a finished job's
published answers, with its own Secret (random role/password) and NetworkPolicy; Kubernetes ends it at its
TTL (``activeDeadlineSeconds``) and ``reap`` deletes ended ones with their Secrets. These verbs talk to the
cluster through a kubeconfig (``--kubeconfig``, else KUBECONFIG / ~/.kube/config; for EKS: ``aws eks
update-kubeconfig``). Settings (namespace, images, secrets, TTL) come from the environment, as for
``pod render``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import Any

from rdfox_pipeline.cli._files import read_bytes
from rdfox_pipeline.cli.main import CliError
from rdfox_pipeline.domain.jobspec import MAX_JOBSPEC_BYTES, JobSpecError, parse_jobspec
from rdfox_pipeline.domain.settings import Settings, SettingsError, resolve_settings
from rdfox_pipeline.pod.endpoint_lifecycle import ENDPOINT_SELECTOR as SELECTOR


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("endpoint", help="kept-up RDFox endpoints of finished jobs")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, help=help_text)
        parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: KUBECONFIG)")
        parser.add_argument("--context", default=None, help="kubeconfig context (default: current)")
        parser.add_argument(
            "--namespace", default=None, help="namespace (default: KUBERNETES_NAMESPACE setting)"
        )
        return parser

    add("list", "list endpoint pods: name, job id, phase, expiry").set_defaults(handler=list_command)
    start = add("start", "start the endpoint of a finished job (its published answers)")
    start.add_argument("file", metavar="JOBSPEC_FILE", help="the job's jobspec ('-' for stdin)")
    start.add_argument("--job-id", required=True, metavar="ID", help="the finished job")
    start.add_argument("--ttl-hours", type=int, default=None, help="lifetime (default: the setting)")
    start.add_argument("--dry-run", action="store_true", help="print the pod manifest, create nothing")
    start.set_defaults(handler=start_command)
    delete = add("delete", "delete the endpoint of a job now")
    delete.add_argument("job_id", metavar="JOB_ID")
    delete.set_defaults(handler=delete_command)
    reap = add("reap", "delete endpoints that ended or are past their expiry, with their Secrets")
    reap.set_defaults(handler=reap_command)


def _settings(overrides: dict[str, Any] | None = None) -> Settings:
    try:
        return resolve_settings(overrides, env=os.environ)
    except SettingsError as exc:
        raise CliError(f"settings: {exc}") from None


def _core_api(args: argparse.Namespace) -> Any:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        api_client = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
    except (ConfigException, OSError) as exc:
        raise CliError(f"kubeconfig: {exc}") from None
    return client.CoreV1Api(api_client)


def _apis(args: argparse.Namespace) -> tuple[Any, Any]:
    """CoreV1Api and NetworkingV1Api on one connection."""
    from kubernetes import client

    core = _core_api(args)
    return core, client.NetworkingV1Api(core.api_client)


def _api_error(exc: Exception, what: str) -> CliError:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return CliError(f"{what}: {status} {reason}" if status else f"{what}: {reason}")


def list_command(args: argparse.Namespace) -> int:
    namespace = args.namespace or _settings().kubernetes_namespace
    try:
        pods = _core_api(args).list_namespaced_pod(namespace, label_selector=SELECTOR).items
    except CliError:
        raise
    except Exception as exc:  # ApiException, connection errors: one line
        raise _api_error(exc, f"listing endpoints in {namespace}") from None
    rows = [("NAME", "JOB ID", "PHASE", "EXPIRES")]
    for pod in pods:
        annotations = pod.metadata.annotations or {}
        rows.append(
            (
                pod.metadata.name,
                annotations.get("rdfox-pipeline/job-id", "?"),
                (pod.status.reason or pod.status.phase or "?") if pod.status else "?",
                annotations.get("rdfox-pipeline/expires-at", "?"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def start_command(args: argparse.Namespace) -> int:
    import yaml

    from rdfox_pipeline.domain.job_ids import parse_job_id
    from rdfox_pipeline.pod.endpoint import build_endpoint_manifest

    env_settings = _settings()
    raw = read_bytes(args.file, limit=MAX_JOBSPEC_BYTES)
    try:
        spec = parse_jobspec(
            raw,
            allowed_registries=env_settings.image_registry_allowlist,
            delimiter=env_settings.job_id_delimeter,
        )
        settings = resolve_settings(spec.setting_overrides(), env=os.environ)
    except (JobSpecError, SettingsError) as exc:
        raise CliError(f"{args.file}: {exc}") from None
    try:
        job = parse_job_id(args.job_id, settings.job_id_delimeter)
    except ValueError as exc:
        raise CliError(f"--job-id: {exc}") from None
    if job.dataset != spec.dataset:
        raise CliError(f"--job-id: dataset {job.dataset!r} is not the jobspec's {spec.dataset!r}")
    if args.ttl_hours is not None and not 1 <= args.ttl_hours <= 24 * 30:
        raise CliError(f"--ttl-hours must be between 1 and 720, got {args.ttl_hours}")
    ttl = args.ttl_hours * 3600 if args.ttl_hours is not None else None
    try:
        manifest = build_endpoint_manifest(
            spec, args.job_id, settings, now=dt.datetime.now(dt.UTC), ttl_seconds=ttl
        )
    except ValueError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    if args.namespace:
        manifest["metadata"]["namespace"] = args.namespace
    if args.dry_run:
        print(yaml.safe_dump(manifest, sort_keys=False), end="")
        return 0
    from rdfox_pipeline.pod.endpoint_lifecycle import (
        EndpointAlreadyRunning,
        EndpointCapReached,
        start_endpoint,
    )

    meta = manifest["metadata"]
    try:
        core, networking = _apis(args)
        started = start_endpoint(core, networking, manifest, settings)
    except CliError:
        raise
    except (EndpointCapReached, EndpointAlreadyRunning) as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        raise _api_error(exc, f"creating endpoint {meta['namespace']}/{meta['name']}") from None
    port = spec.rdfox.port
    print(f"started {started.namespace}/{started.name} (ends {started.expires_at})")
    print(f"connect: kubectl port-forward -n {started.namespace} pod/{started.name} {port}:{port}")
    print(f"password: {started.password_command()}")
    return 0


def delete_command(args: argparse.Namespace) -> int:
    from rdfox_pipeline.pod.endpoint import endpoint_pod_name
    from rdfox_pipeline.pod.endpoint_lifecycle import delete_endpoint

    namespace = args.namespace or _settings().kubernetes_namespace
    name = endpoint_pod_name(args.job_id)
    try:
        existed = delete_endpoint(*_apis(args), namespace, name)
    except CliError:
        raise
    except Exception as exc:
        raise _api_error(exc, f"deleting endpoint {namespace}/{name}") from None
    if not existed:
        raise CliError(f"job {args.job_id} has no endpoint pod ({namespace}/{name} not found)")
    print(f"deleted {namespace}/{name} and its Secret and NetworkPolicy")
    return 0


def reap_command(args: argparse.Namespace) -> int:
    from rdfox_pipeline.pod.endpoint_lifecycle import reap_endpoints

    namespace = args.namespace or _settings().kubernetes_namespace
    try:
        reaped = reap_endpoints(*_apis(args), namespace, dt.datetime.now(dt.UTC))
    except CliError:
        raise
    except Exception as exc:
        raise _api_error(exc, f"reaping endpoints in {namespace}") from None
    for name in reaped:
        print(f"deleted {namespace}/{name} and its Secret and NetworkPolicy")
    print(f"{len(reaped)} endpoint(s) reaped in {namespace}")
    return 0
