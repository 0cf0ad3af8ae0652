"""`rdfox-pipeline submit`: build and validate a jobspec, upload it, or trigger the run and wait.

The jobspec is checked as the run will check it (``domain/jobspec_policy.py``: trust boundary and caps)
before anything is uploaded or triggered, against the deployment's settings (SSM, then the environment):
always for an upload, with ``--ssm`` for ``--dry-run`` and ``--trigger`` (without it they check the jobspec's
form only, and the run's register_job refuses what the deployment does not allow, before any pod).

Two ways to start the job, never both (that would run it twice):

* default: upload the jobspec to ``s3://<job_bucket>/<dataset>/<name>.rdfoxjob.json``. Where the input
  bucket's notifications feed the DAG's asset watcher (docs/s3-events.md), the upload starts the run.
* ``--trigger``: start the run through Airflow's REST API (``POST /api/v2/dags/{dag_id}/dagRuns``) with the
  jobspec inline in the run's conf, so that no upload can start a second run; the job record keeps the
  jobspec as run. ``--wait`` then prints each task's state changes until the run ends. The bearer token
  comes from ``AIRFLOW_API_TOKEN`` (never from the command line, where ``ps`` would show it).

Which Airflow: ``--airflow-url``, else ``$AIRFLOW_URL``, else the local stack's (``local up --airflow``, in
``$RDFOX_LOCAL_STATE_DIR`` or ./.rdfox-local), else http://localhost:8080. For the local stack's Airflow the
token, unless ``AIRFLOW_API_TOKEN`` gives one, is asked for with the admin password the stack keeps.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from rdfox_pipeline.cli.main import CliError

DAG_ID = "rdfox_neptune_pipeline"
TOKEN_ENV = "AIRFLOW_API_TOKEN"  # noqa: S105  # nosec B105
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
DEFAULT_AIRFLOW_URL = "http://localhost:8080"
LOCAL_STATE_DIR_ENV = "RDFOX_LOCAL_STATE_DIR"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("submit", help="build, validate and upload a jobspec; optionally run it")
    parser.add_argument(
        "--dataset", required=True, help="dataset name (its files are under s3://<bucket>/<D>/)"
    )
    parser.add_argument("--name", help="jobspec name (default: job-<UTC timestamp>)")
    parser.add_argument("--cores", type=int, help="CPU cores for RDFox")
    parser.add_argument("--memory", help="memory for RDFox, a Kubernetes quantity such as 10Gi")
    parser.add_argument("--keep-endpoint", action="store_true", help="keep an RDFox endpoint up afterwards")
    parser.add_argument("--job-bucket", help="input bucket (default: the INPUT_BUCKET setting)")
    parser.add_argument("--output-bucket", help="output bucket (default: the OUTPUT_BUCKET setting)")
    parser.add_argument("--dry-run", action="store_true", help="print the validated jobspec; upload nothing")
    parser.add_argument(
        "--ssm",
        action="store_true",
        help="with --dry-run/--trigger: check the jobspec against the deployment's settings (SSM, then the "
        "environment) as the run will; an upload always does",
    )
    parser.add_argument(
        "--trigger",
        action="store_true",
        help="start the run through Airflow's REST API with the jobspec inline, instead of uploading it",
    )
    parser.add_argument(
        "--airflow-url",
        default=None,
        help="Airflow's base URL (default: $AIRFLOW_URL, else the local stack's Airflow if it runs, "
        "else http://localhost:8080)",
    )
    parser.add_argument(
        "--wait", action="store_true", help="with --trigger: wait for the run and print progress"
    )
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds --wait waits at most")
    parser.set_defaults(handler=submit_command)


def build_jobspec(args: argparse.Namespace) -> dict[str, Any]:
    """The new-form jobspec the options describe, validated (JobSpecError -> CliError)."""
    from rdfox_pipeline.domain.jobspec import JobSpecError, parse_jobspec

    raw: dict[str, Any] = {
        "dataset": args.dataset,
        "name": args.name or time.strftime("job-%Y%m%dT%H%M%SZ", time.gmtime()),
    }
    if args.job_bucket:
        raw["job_bucket"] = args.job_bucket
    if args.output_bucket:
        raw["output_bucket"] = args.output_bucket
    resources = {k: v for k, v in (("cores", args.cores), ("memory", args.memory)) if v is not None}
    if resources:
        raw["resources"] = resources
    if args.keep_endpoint:
        raw["rdfox"] = {"keep_endpoint": True}
    try:
        return parse_jobspec(raw).to_json_dict()
    except JobSpecError as exc:
        raise CliError(f"invalid jobspec: {exc}") from None


def check_as_a_run_would(jobspec: dict[str, Any], settings: Any, *, pod_start: bool) -> None:
    """The run's own checks (domain/jobspec_policy.py): trust boundary and caps; CliError naming the field.

    ``pod_start``: also the settings a pod needs (IMAGE_REGISTRY_ALLOWLIST outside the local stack).
    """
    from rdfox_pipeline.domain.jobspec import JobSpecError
    from rdfox_pipeline.domain.jobspec_policy import check_pod_start, parse_jobspec_for_run
    from rdfox_pipeline.domain.settings import SettingsError

    try:
        parse_jobspec_for_run(jobspec, settings)
        if pod_start:
            check_pod_start(settings)
    except (JobSpecError, SettingsError) as exc:
        raise CliError(f"the run would refuse this jobspec: {exc}") from None


def _settings() -> Any:
    from rdfox_pipeline.aws.settings_loader import SettingsLoadError, load_settings

    try:
        return load_settings()
    except (SettingsLoadError, ValueError) as exc:
        raise CliError(str(exc)) from None


def upload(jobspec: dict[str, Any], settings: Any) -> str:
    """Put the jobspec at s3://<job_bucket>/<dataset>/<name>.<JOBSPEC_NAME>; returns its URI."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = jobspec.get("job_bucket") or settings.input_bucket
    if not bucket:
        raise CliError("no input bucket: give --job-bucket or set the INPUT_BUCKET setting")
    key = f"{jobspec['dataset']}/{jobspec['name']}.{settings.jobspec_name}"
    body = json.dumps(jobspec, indent=2).encode()
    try:
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"cannot upload s3://{bucket}/{key}: {exc}") from None
    return f"s3://{bucket}/{key}"


class AirflowApi:
    """The two REST calls submit needs; the token comes from the environment, never from arguments."""

    def __init__(self, base_url: str, token: str | None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise CliError(f"--airflow-url must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            hint = f" (set {TOKEN_ENV})" if exc.code in (401, 403) else ""
            raise CliError(f"Airflow API {method} {path}: HTTP {exc.code}{hint}: {detail}") from None
        except OSError as exc:
            raise CliError(f"cannot reach Airflow at {self.base_url}: {exc}") from None

    def trigger(self, conf: dict[str, Any]) -> str:
        run = self._call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def run_state(self, run_id: str) -> str:
        return str(self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"])

    def task_states(self, run_id: str) -> dict[str, str]:
        data = self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: str(ti.get("state")) for ti in data.get("task_instances", [])}


def airflow_endpoint(url: str | None) -> tuple[str, str | None]:
    """The Airflow URL and bearer token to use (module docstring: the order they are looked for in)."""
    url = url or os.environ.get("AIRFLOW_URL")
    token = os.environ.get(TOKEN_ENV)
    local = _local_airflow()
    if local is None or (url and url.rstrip("/") != local.api_url):
        return url or DEFAULT_AIRFLOW_URL, token
    if token is None:
        try:
            token = local.token()
        except (OSError, ValueError, KeyError) as exc:
            raise CliError(f"cannot log in to the local stack's Airflow at {local.api_url}: {exc}") from None
    return local.api_url, token


def _local_airflow() -> Any:
    """The local stack's running Airflow (rdfox_local.stack.airflow_services.AirflowServices), or None."""
    try:
        from rdfox_local.stack.airflow_services import AirflowServices
        from rdfox_local.stack.stack import DEFAULT_STATE_DIR, LocalStack, StackError
    except ImportError:  # the CLI without the local stack (rdfox_local not installed)
        return None
    try:
        stack = LocalStack(os.environ.get(LOCAL_STATE_DIR_ENV) or DEFAULT_STATE_DIR)
        services = AirflowServices.attach(stack)
    except StackError:
        return None
    return services if services is not None and services.is_up() else None


def wait_for_run(api: AirflowApi, run_id: str, timeout: float, poll: float = 3.0) -> str:
    """Print each task's state changes until the run ends; returns the run's final state."""
    started = time.monotonic()
    deadline = started + timeout
    seen: dict[str, str] = {}
    while True:
        for task_id, state in api.task_states(run_id).items():
            if state != "None" and seen.get(task_id) != state:  # None: not scheduled yet
                seen[task_id] = state
                print(f"  {time.monotonic() - started:5.0f}s  {task_id:<24} {state}", flush=True)
        state = api.run_state(run_id)
        if state in TERMINAL_RUN_STATES:
            return state
        if time.monotonic() > deadline:
            raise CliError(f"run {run_id} still {state} after {timeout:.0f} s")
        time.sleep(poll)


def submit_command(args: argparse.Namespace) -> int:
    if args.wait and not args.trigger:
        raise CliError("--wait needs --trigger")
    jobspec = build_jobspec(args)
    from rdfox_pipeline.cli.jobspec import operator_settings, ssm_layer

    uploading = not (args.dry_run or args.trigger)
    # The run's checks need the deployment's settings: an upload reads them (SSM, then the environment) for
    # the input bucket anyway; --dry-run and --trigger only with --ssm. Without them a closed field such as
    # --job-bucket cannot be compared with the deployment's value, so the run's own check decides.
    settings = _settings() if uploading else operator_settings(ssm_layer(True)) if args.ssm else None
    if settings is not None:
        check_as_a_run_would(jobspec, settings, pod_start=True)
    if args.dry_run:
        print(json.dumps(jobspec, indent=2))
        return 0
    if uploading:
        print(f"uploaded {upload(jobspec, settings)}")
        return 0
    api = AirflowApi(*airflow_endpoint(args.airflow_url))
    run_id = api.trigger({"jobspec": jobspec})
    print(f"triggered {DAG_ID} run {run_id} (dataset {jobspec['dataset']}, jobspec {jobspec['name']})")
    if not args.wait:
        return 0
    state = wait_for_run(api, run_id, args.timeout)
    print(f"run {run_id}: {state}")
    return 0 if state == "success" else 1
