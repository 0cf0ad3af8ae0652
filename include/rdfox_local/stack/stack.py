"""The embedded local stack: moto's server, the Neptune emulator and the Kubernetes emulator as background
processes, the AWS resources the pipeline needs, and the Airflow environment that points at them.

State lives in one directory (default ``.rdfox-local/`` in the current directory):

```
state.json     pids, ports, URLs of what ``up`` started (and ``up --airflow``); resource names (no secrets)
airflow.env    KEY=VALUE lines: AIRFLOW_HOME, the connections, AWS_ENDPOINT_URL, ...
airflow/       AIRFLOW_HOME (sqlite database, logs)
logs/          one log per server
k8s/           the Kubernetes emulator's state, kubeconfig, image map and secrets directory
```

``up`` is idempotent (a running stack is reused, a half-dead one restarted); ``down`` stops exactly the
processes in state.json (checked by pid and start time) and nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdfox_local.stack.processes import (
    ServerProcess,
    free_port,
    is_running,
    start_server,
    stop_server,
    wait_until_answering,
)
from rdfox_local.stack.task_preload import task_modules

REGION = "eu-west-2"
DAG_FILE = "rdfox_neptune_pipeline.py"
# rdfox_pipeline.aws.session_factory.SESSION_FACTORY_PATH, not imported: it imports the Amazon provider.
SESSION_FACTORY = "rdfox_pipeline.aws.session_factory.SharedLoaderSessionFactory"
POD_POOL = "rdfox_pods"  # the DAG's pool for the pod task (dags/rdfox_neptune_pipeline.py POOL)
# moto's dummy credentials: the local stack never talks to AWS.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105  # nosec B105
DEFAULT_STATE_DIR = ".rdfox-local"
SERVERS = ("moto", "neptune", "kubernetes")
# How often the local stack's Neptune sensor polls: seconds, not the production default of 30.
LOCAL_SETTINGS = {"NEPTUNE_LOAD_POLL_SECONDS": "2", "NEPTUNE_SOURCE_FORMAT": "ntriples", "LOG_LEVEL": "info"}


def drop_s3_test_events(sqs: Any, queue_url: str) -> int:
    """Delete the ``s3:TestEvent`` messages S3 sends when a bucket's notifications are (re)configured.

    Left in the jobspec queue, each would start a run of the DAG (through its asset watcher) that names no
    jobspec. Other messages are made visible again at once. Returns how many test events were deleted.
    """
    dropped = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return dropped
        for message in messages:
            try:
                is_test = json.loads(message.get("Body") or "{}").get("Event") == "s3:TestEvent"
            except (ValueError, AttributeError):
                is_test = False
            if is_test:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                dropped += 1
            else:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
                return dropped  # a real upload is waiting: leave it (and what follows) to the watcher


def stack_parameters(config: Any) -> dict[str, str]:
    """pipeline.yaml's parameters for the local stack: its names, the emulators, no EKS (plain Kubernetes)."""
    return {
        "InputBucketName": config.input_bucket,
        "OutputBucketName": config.output_bucket,
        "NeptuneClusterEndpoint": config.neptune_endpoint,
        # The emulator is no RDS cluster: names for the loader role's trust only, never looked up.
        "NeptuneClusterId": "local-neptune",
        "NeptuneClusterResourceId": "cluster-LOCAL",
    }


class StackError(RuntimeError):
    """The local stack cannot do what was asked; the message says why and what to do."""


def repo_root() -> Path:
    """The checkout this package is installed from (editable install): dags/ and include/ live there."""
    return Path(__file__).resolve().parents[3]


@dataclass
class StackState:
    servers: dict[str, ServerProcess] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    # The Airflow services of `up --airflow`, as rdfox_local.stack.airflow_services records them ({} if none).
    airflow: dict[str, Any] = field(default_factory=dict)

    def airflow_processes(self) -> list[ServerProcess]:
        return [ServerProcess.from_json(p) for p in self.airflow.get("processes", {}).values()]

    @classmethod
    def load(cls, path: Path) -> StackState:
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text())
            servers = {n: ServerProcess.from_json(s) for n, s in data.get("servers", {}).items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise StackError(f"{path} is not a local stack state file ({exc}); remove it") from None
        return cls(servers, dict(data.get("resources", {})), dict(data.get("airflow", {})))

    def save(self, path: Path) -> None:
        data = {"servers": {n: s.to_json() for n, s in self.servers.items()}, "resources": self.resources}
        if self.airflow:
            data["airflow"] = self.airflow
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)


class LocalStack:
    """``up``/``down``/``status`` of the local stack in ``state_dir``."""

    def __init__(self, state_dir: Path | str | None = None) -> None:
        self.state_dir = Path(state_dir or DEFAULT_STATE_DIR).resolve()
        self.state_file = self.state_dir / "state.json"
        self.env_file = self.state_dir / "airflow.env"
        self.airflow_home = self.state_dir / "airflow"
        self.log_dir = self.state_dir / "logs"
        self.k8s_dir = self.state_dir / "k8s"
        self.kubeconfig = self.k8s_dir / "kubeconfig.yaml"

    # -- status ---------------------------------------------------------------------------------------------

    def state(self) -> StackState:
        return StackState.load(self.state_file)

    def status(self) -> dict[str, Any]:
        """What runs, where, and whether it still runs; JSON-ready."""
        state = self.state()
        servers = {
            name: {"pid": s.pid, "url": s.url, "running": is_running(s), "log": s.log}
            for name, s in state.servers.items()
        }
        up = bool(servers) and set(servers) == set(SERVERS) and all(s["running"] for s in servers.values())
        return {"state_dir": str(self.state_dir), "up": up, "servers": servers, "resources": state.resources}

    def is_up(self) -> bool:
        return bool(self.status()["up"])

    # -- up -------------------------------------------------------------------------------------------------

    def up(self, *, airflow_db: bool = True, log: Any = print) -> StackState:
        """Start what is not running, create the resources, write airflow.env; returns the state."""
        for directory in (self.state_dir, self.log_dir, self.k8s_dir, self.airflow_home):
            directory.mkdir(parents=True, exist_ok=True)
        state = self.state()
        if state.servers and not self.is_up():
            log("local stack: part of it is not running any more; restarting it")
            self._stop(state)
            state = StackState()
        started_here = not state.servers
        if started_here:
            state = self._start_servers(log)
            state.save(self.state_file)
        try:
            state.resources = self._provision(state)
            state.save(self.state_file)
            env = self.environment(state)
            self._write_env_file(env)
            if airflow_db:
                self._prepare_airflow(env, log)
        except BaseException:
            if started_here:  # a failed `up` leaves nothing running behind
                self._stop(state)
                self.state_file.unlink(missing_ok=True)
            raise
        log(f"local stack: up ({self.state_dir})")
        return state

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRFLOW"))}
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            PYTHONUNBUFFERED="1",
        )
        return env

    def _start_servers(self, log: Any) -> StackState:
        from rdfox_local.compose_setup import LocalStackConfig

        state = StackState()
        python = sys.executable
        try:
            port = free_port()
            # moto's server with DynamoDB requests applied one at a time: runs side by side allocate job ids
            # with conditional writes, which moto's threads would otherwise race.
            moto = start_server(
                "moto",
                [
                    python,
                    "-m",
                    "rdfox_local.moto_atomic",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "--preload-cloudformation",
                ],
                port=port,
                url=f"http://127.0.0.1:{port}",
                log_dir=self.log_dir,
                env=self._base_env(),
            )
            state.servers["moto"] = moto
            state.save(self.state_file)  # recorded at once, so that down can stop it whatever happens next
            wait_until_answering(moto, "/moto-api/")
            env = {**self._base_env(), "AWS_ENDPOINT_URL": moto.url}

            port = free_port()
            neptune = start_server(
                "neptune",
                [
                    python,
                    "-m",
                    "rdfox_local.neptune_emulator",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--s3-endpoint",
                    moto.url,
                    "--region",
                    REGION,
                    # The load role the provisioner creates in moto's IAM, attached to the emulated cluster.
                    "--attached-role",
                    LocalStackConfig().neptune_iam_role_arn,
                ],
                port=port,
                url=f"http://127.0.0.1:{port}",
                log_dir=self.log_dir,
                env=env,
            )
            state.servers["neptune"] = neptune
            state.save(self.state_file)

            port = free_port()
            image_map, secrets_dir = self._k8s_files()
            kubernetes = start_server(
                "kubernetes",
                [
                    python,
                    "-m",
                    "rdfox_local.k8s_emulator",
                    "--port",
                    str(port),
                    "--image-map",
                    str(image_map),
                    "--secrets-dir",
                    str(secrets_dir),
                    "--state-dir",
                    str(self.k8s_dir / "state"),
                    "--kubeconfig-out",
                    str(self.kubeconfig),
                ],
                port=port,
                url=f"http://127.0.0.1:{port}",
                log_dir=self.log_dir,
                env=env,
            )
            state.servers["kubernetes"] = kubernetes
            state.save(self.state_file)
            wait_until_answering(neptune, "/status")
            wait_until_answering(kubernetes, "/version")
            self._wait_for_file(self.kubeconfig, kubernetes)
        except BaseException:
            self._stop(state)  # nothing orphaned by a failed start
            self.state_file.unlink(missing_ok=True)
            raise
        for s in state.servers.values():
            log(f"local stack: {s.name} at {s.url} (pid {s.pid})")
        return state

    @staticmethod
    def _wait_for_file(path: Path, proc: ServerProcess, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline or not is_running(proc):
                raise StackError(f"{proc.name} wrote no {path}; see {proc.log}")
            time.sleep(0.1)

    def _k8s_files(self) -> tuple[Path, Path]:
        """The emulator's image map (the one it ships) and a secrets directory.

        The secrets hold a local RDFox role and a generated password; no licence, so the rdfox image runs the
        local reasoner (put ``RDFox.lic`` in ``secrets/rdfox-license/`` to run the real one).
        """
        import secrets

        import rdfox_local.k8s_emulator as k8s_emulator

        secrets_dir = self.k8s_dir / "secrets"
        password_dir = secrets_dir / "rdfox-password"  # <dir>/<secret>/<key>, as the emulator reads them
        password_dir.mkdir(parents=True, exist_ok=True)
        (password_dir / "role").write_text("admin")
        password_file = password_dir / "password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(18))
            password_file.chmod(0o600)
        return Path(k8s_emulator.__file__).with_name("image-map.yaml"), secrets_dir

    def _provision(self, state: StackState) -> dict[str, Any]:
        """Deploy deploy/cloudformation/pipeline.yaml into moto; the settings come from the stack.

        What moto's CloudFormation leaves out, ``deploy_pipeline_stack`` creates itself (docs/local-stack.md
        lists each gap). Local only, beside the stack: the local settings (LOCAL_SETTINGS, LOCAL_STACK) and
        a queue subscribed to the topic, from which tests and the demo read the notifications.
        """
        import boto3

        from rdfox_local.cloudformation.local_deploy import deploy_pipeline_stack
        from rdfox_local.compose_setup import LocalProvisioner, LocalStackConfig

        config = LocalStackConfig(
            region=REGION,
            neptune_endpoint=state.servers["neptune"].url,
            extra_settings=dict(LOCAL_SETTINGS),
        )
        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        )
        moto = state.servers["moto"].url

        def client(name: str) -> Any:
            return session.client(name, endpoint_url=moto)  # type: ignore[call-overload]

        outputs = deploy_pipeline_stack(client, stack_parameters(config))
        saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        try:
            provisioner = LocalProvisioner(config, moto)
            provisioner.put_settings({"LOCAL_STACK": "true", **config.extra_settings})
            topic_arn = outputs["BulkloadTopicArn"]
            queue_url = provisioner.subscribe_reader(topic_arn)
            # The queue's URL as moto's server answers it (the stack's output names AWS's host).
            jobspec_queue = outputs["JobspecQueueArn"].rsplit(":", 1)[-1]
            jobspec_queue_url = provisioner.sqs.get_queue_url(QueueName=jobspec_queue)["QueueUrl"]
            drop_s3_test_events(provisioner.sqs, jobspec_queue_url)
            settings = provisioner.read_settings()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return {
            "stack_name": "rdfox-pipeline",
            "input_bucket": outputs["InputBucketName"],
            "output_bucket": outputs["OutputBucketName"],
            "job_table": outputs["JobTableName"],
            "topic_arn": topic_arn,
            "notification_queue_url": queue_url,
            "jobspec_queue_url": jobspec_queue_url,
            "settings": settings,
        }

    # -- the Airflow side -----------------------------------------------------------------------------------

    def environment(self, state: StackState | None = None) -> dict[str, str]:
        """The variables an Airflow process (or the CLI) needs to run the pipeline on this stack."""
        state = state or self.state()
        if not state.servers:
            raise StackError(f"no local stack in {self.state_dir}: run `rdfox-pipeline local up` first")
        moto, neptune = state.servers["moto"].url, state.servers["neptune"]
        root = repo_root()
        aws_conn = {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": moto, "region_name": REGION},
        }
        neptune_conn = {
            "conn_type": "neptune",
            "host": "127.0.0.1",
            "port": neptune.port,
            "schema": "http",
            "extra": {"use_https": False, "iam_auth": False, "region": REGION},
        }
        kube_conn = {
            "conn_type": "kubernetes",
            "extra": {"kube_config_path": str(self.kubeconfig), "namespace": "rdfox", "in_cluster": False},
        }
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Airflow 3.3+: executor workers start from a forkserver that imported what tasks use, so a task
            # process does not import the providers again (4 to 5 s of CPU per task; task_preload.py).
            "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
            "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(task_modules(root / "dags" / DAG_FILE)),
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            # AWS hooks' sessions share botocore's parsed data files (0.1 to 0.3 s of CPU per hook otherwise).
            "AIRFLOW__AWS__SESSION_FACTORY": SESSION_FACTORY,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.airflow_home / "logs"),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_conn),
            "AIRFLOW_CONN_NEPTUNE_DEFAULT": json.dumps(neptune_conn),
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kube_conn),
            "AWS_ENDPOINT_URL": moto,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "RDFOX_PIPELINE_JOBSPEC_QUEUE_URL": str(state.resources.get("jobspec_queue_url", "")),
            # Where `submit --trigger` finds this stack's Airflow (URL and login) when given no --airflow-url.
            "RDFOX_LOCAL_STATE_DIR": str(self.state_dir),
            # No KUBECONFIG: the pod operator would turn it into a config_dict for its trigger, and the
            # trigger's hook refuses a config_dict next to the connection's kube_config_path.
        }

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This process's environment with the stack's variables on top (for subprocesses)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "KUBECONFIG"}
        env.update(self.environment())
        env.update(extra or {})
        return env

    def _write_env_file(self, env: Mapping[str, str]) -> None:
        lines = ["# Written by `rdfox-pipeline local up`: `set -a; . ./.rdfox-local/airflow.env; set +a`"]
        lines += [f"{key}='{value}'" for key, value in env.items()]  # values hold no single quotes
        self.env_file.write_text("\n".join(lines) + "\n")
        self.env_file.chmod(0o600)

    def _prepare_airflow(self, env: Mapping[str, str], log: Any) -> None:
        """Migrate the Airflow database and create the pool, each once per state directory."""
        airflow = str(Path(sys.executable).with_name("airflow"))
        full_env = {**self._base_env(), **env}
        # The deferred `reason` task (its pod running) keeps its slot: without --include-deferred the pool
        # would not limit pods. Its own marker: a state directory whose pool lacks the flag gets it now.
        steps = (
            (".migrated", [airflow, "db", "migrate"]),
            (
                ".pod-pool",
                [airflow, "pools", "set", POD_POOL, "4", "RDFox pods running at once", "--include-deferred"],
            ),
        )
        for name, args in steps:
            marker = self.airflow_home / name
            if marker.exists():
                continue
            log(f"local stack: preparing Airflow ({' '.join(args[1:3])})")
            done = subprocess.run(args, env=full_env, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
            if done.returncode != 0:
                raise StackError(f"{' '.join(args[1:])} failed:\n{done.stderr[-2000:]}")
            marker.touch()

    # -- down -----------------------------------------------------------------------------------------------

    def down(self, *, purge: bool = False, log: Any = print) -> list[str]:
        """Stop the processes ``up`` started; with ``purge`` also remove the state directory."""
        state = self.state()
        stopped = self._stop(state)
        self.state_file.unlink(missing_ok=True)
        for name in stopped:
            log(f"local stack: stopped {name}")
        if purge and self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        return stopped

    @staticmethod
    def _stop(state: StackState) -> list[str]:
        # Airflow first (its tasks talk to the servers), then in reverse order: the Kubernetes emulator (and
        # its pods) first, moto last.
        airflow = [p.name for p in reversed(state.airflow_processes()) if stop_server(p, 20.0)]
        state.airflow = {}
        return airflow + [s.name for s in reversed(list(state.servers.values())) if stop_server(s)]
