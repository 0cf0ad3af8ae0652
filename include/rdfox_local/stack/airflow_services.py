"""A real Airflow on the local stack: api-server, scheduler, dag-processor and triggerer, in the background.

``airflow dags test`` (what the demo uses) runs everything in one process; this is the deployment shape
instead: the scheduler hands tasks to the LocalExecutor, deferred tasks wait in the triggerer, the REST API
answers on ``api_url``, and the DAG's asset watcher polls the stack's jobspec queue. Used by the end-to-end
tests that need a scheduler (DEFERRED states, asset-triggered runs, ``rdfox-pipeline submit --trigger``).

The REST API needs no token here (``simple_auth_manager_all_admins``): loopback only, for local use.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rdfox_local.stack.processes import (
    ServerProcess,
    free_port,
    is_running,
    log_tail,
    start_server,
    stop_server,
    wait_until_answering,
)
from rdfox_local.stack.stack import LocalStack, StackError

SERVICES = ("api-server", "dag-processor", "scheduler", "triggerer")


class AirflowServices:
    """Start/stop Airflow's four long-running processes against ``stack`` (which must be up)."""

    def __init__(self, stack: LocalStack, *, port: int | None = None) -> None:
        self.stack = stack
        self.port = port or free_port()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, ServerProcess] = {}

    def environment(self) -> dict[str, str]:
        return self.stack.process_env(
            {
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                # Every process must sign and check the task tokens with the same secret.
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # A busy machine answers slowly: a task start must not fail on the 5-second default.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                # Free ports, not 8793/8794: other Airflows on the machine must not make these exit.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )

    def start(self, *, timeout: float = 240.0) -> None:
        """Start the four processes and wait until the API answers and the DAG is known to it."""
        airflow = str(Path(sys.executable).with_name("airflow"))
        env = self.environment()
        log_dir = self.stack.log_dir
        try:
            for name in SERVICES:
                args = [airflow, name]
                if name == "api-server":
                    args += ["--port", str(self.port), "--host", "127.0.0.1"]
                self.processes[name] = start_server(
                    f"airflow-{name}", args, port=self.port, url=self.api_url, log_dir=log_dir, env=env
                )
            wait_until_answering(self.processes["api-server"], "/api/v2/monitor/health", timeout=timeout)
            dag = self.wait_for_dag("rdfox_neptune_pipeline", timeout=timeout)
            if dag.get("is_paused"):
                # `airflow dags test` (the demo) registers the DAG paused; a paused DAG takes uploads and
                # triggered runs without ever running them.
                self.api("PATCH", "/api/v2/dags/rdfox_neptune_pipeline", {"is_paused": False})
        except BaseException:
            self.stop()
            raise

    def check_running(self) -> None:
        for name, proc in self.processes.items():
            if not is_running(proc):
                raise StackError(f"airflow {name} exited; see {proc.log}:\n{log_tail(proc.log)}")

    def wait_for_dag(self, dag_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            self.check_running()
            try:
                return self.api("GET", f"/api/v2/dags/{dag_id}")
            except urllib.error.HTTPError as exc:
                if exc.code != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback URL of our own api-server
            self.api_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
            return json.loads(response.read() or b"null")

    def stop(self) -> list[str]:
        stopped = [name for name, proc in reversed(list(self.processes.items())) if stop_server(proc, 20.0)]
        self.processes.clear()
        return stopped
