"""A real Airflow on the local stack: api-server, scheduler, dag-processor and triggerer, in the background.

``airflow dags test`` (what the demo uses) runs everything in one process; this is the deployment shape
instead: the scheduler hands tasks to the LocalExecutor, deferred tasks wait in the triggerer, the REST API
and the UI answer on ``api_url``, and the DAG's asset watcher polls the stack's jobspec queue.

Two users: ``rdfox-pipeline local up --airflow`` (``start_airflow``: the UI for people, with a login) and the
end-to-end tests that need a scheduler (``AirflowServices(stack).start()``, all-admins by default).

Login: with ``auth=True`` Airflow's simple auth manager has one user, ``admin``, whose generated password is
kept in ``<state-dir>/airflow/simple_auth_manager_passwords.json`` (mode 0600; Airflow reads it and, finding
the user there, neither generates nor logs a password). With ``auth=False`` every request is an admin's
(``simple_auth_manager_all_admins``): loopback only, for local use.

The processes are recorded in the stack's state.json (pid and start time, as the stack's servers are), so
``local status`` shows them and ``local down`` stops exactly them.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
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
DAG_ID = "rdfox_neptune_pipeline"
ADMIN_USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
# SQLite's connection arguments for the four processes ([database] sql_alchemy_connect_args names this):
# they share one database file, and a write that waits for another's lock longer than sqlite's 5-second
# default fails the request ("database is locked": a 500 to a click in the UI).
SQLITE_CONNECT_ARGS: dict[str, Any] = {"timeout": 60}
# The components /api/v2/monitor/health reports; each must say "healthy" before the UI is announced.
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class AirflowServices:
    """Start/stop Airflow's four long-running processes against ``stack`` (which must be up)."""

    def __init__(self, stack: LocalStack, *, port: int | None = None, auth: bool = False) -> None:
        self.stack = stack
        self.port = port or free_port()
        self.auth = auth
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, ServerProcess] = {}
        self._token: str | None = None

    # -- what runs ------------------------------------------------------------------------------------------

    @classmethod
    def attach(cls, stack: LocalStack) -> AirflowServices | None:
        """The Airflow recorded in the stack's state (running or not), or None if none was started."""
        record = stack.state().airflow
        if not record:
            return None
        services = cls(stack, port=int(record["port"]), auth=bool(record["auth"]))
        services.processes = {
            name: ServerProcess.from_json(proc) for name, proc in record.get("processes", {}).items()
        }
        return services

    def running(self) -> dict[str, bool]:
        return {name: is_running(proc) for name, proc in self.processes.items()}

    def is_up(self) -> bool:
        running = self.running()
        return set(running) == set(SERVICES) and all(running.values())

    def _record(self) -> None:
        state = self.stack.state()
        state.airflow = {
            "url": self.api_url,
            "port": self.port,
            "auth": self.auth,
            "password_file": str(self.password_file) if self.auth else None,
            "processes": {name: proc.to_json() for name, proc in self.processes.items()},
        }
        state.save(self.stack.state_file)

    def _forget(self) -> None:
        state = self.stack.state()
        if state.airflow.get("url") == self.api_url:
            state.airflow = {}
            state.save(self.stack.state_file)

    # -- login ----------------------------------------------------------------------------------------------

    @property
    def password_file(self) -> Path:
        return self.stack.airflow_home / PASSWORDS_FILE

    def admin_password(self) -> str:
        """The admin's password: generated once per state directory, kept in a file only its owner reads."""
        path = self.password_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created 0600 from the start: the password is never readable by others, not even for a moment.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump({ADMIN_USER: secrets.token_urlsafe(18)}, handle)
        try:
            password = json.loads(path.read_text())[ADMIN_USER]
        except (ValueError, KeyError, TypeError):
            raise StackError(
                f"{path} holds no password for {ADMIN_USER!r}; remove it to make a new one"
            ) from None
        return str(password)

    def token(self) -> str | None:
        """A bearer token for the REST API (None with ``auth=False``, where no request needs one)."""
        if not self.auth:
            return None
        if self._token is None:
            body = {"username": ADMIN_USER, "password": self.admin_password()}
            self._token = str(self._call("POST", "/auth/token", body, token=None)["access_token"])
        return self._token

    # -- start ----------------------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        if self.auth:
            auth_env = {
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.password_file),
            }
        else:
            auth_env = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
        return self.stack.process_env(
            {
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": self.api_url,
                # Tasks report to the API server they were started for: the same port, or "state changed
                # externally" fails every task.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                **auth_env,
                # Every process must sign and check the task tokens with the same secret.
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{__name__}.SQLITE_CONNECT_ARGS",
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
        """Start the four processes; return once all are healthy and the DAG is known and unpaused."""
        running = AirflowServices.attach(self.stack)
        if running is not None and any(running.running().values()):
            raise StackError(
                f"an Airflow of this stack already runs at {running.api_url}; `local down` first"
            )
        _check_port_free(self.port)
        if self.auth:
            self.admin_password()
        airflow = str(Path(sys.executable).with_name("airflow"))
        env = self.environment()
        deadline = time.monotonic() + timeout
        try:
            for name in SERVICES:
                args = [airflow, name]
                if name == "api-server":
                    args += ["--port", str(self.port), "--host", "127.0.0.1"]
                self.processes[name] = start_server(
                    f"airflow-{name}",
                    args,
                    port=self.port,
                    url=self.api_url,
                    log_dir=self.stack.log_dir,
                    env=env,
                )
                self._record()  # at once, so that `local down` stops it whatever happens next
            wait_until_answering(self.processes["api-server"], "/api/v2/monitor/health", timeout=timeout)
            self.wait_healthy(deadline - time.monotonic())
            dag = self.wait_for_dag(DAG_ID, timeout=deadline - time.monotonic())
            if dag.get("is_paused"):
                # `airflow dags test` (the demo) registers the DAG paused; a paused DAG takes uploads and
                # triggered runs without ever running them.
                self.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
        except BaseException:
            self.stop()
            raise

    def check_running(self) -> None:
        for name, proc in self.processes.items():
            if not is_running(proc):
                raise StackError(f"airflow {name} exited; see {proc.log}:\n{log_tail(proc.log)}")

    def health(self) -> dict[str, str | None]:
        """Each component's status from /api/v2/monitor/health (which needs no login)."""
        answer = self._call("GET", "/api/v2/monitor/health", token=None)
        return {name: (answer.get(name) or {}).get("status") for name in HEALTH_COMPONENTS}

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_running()
            health = self.health()
            if all(status == "healthy" for status in health.values()):
                return
            if time.monotonic() > deadline:
                raise StackError(f"Airflow at {self.api_url} not healthy after {timeout:.0f} s: {health}")
            time.sleep(1)

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

    def dag_paused(self) -> bool:
        return bool(self.api("GET", f"/api/v2/dags/{DAG_ID}")["is_paused"])

    # -- REST API -------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One REST call, logged in as the admin where the stack's Airflow has a login."""
        return self._call(method, path, body, token=self.token())

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, token: str | None
    ) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback URL of our own api-server
            self.api_url + path, data=data, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
            return json.loads(response.read() or b"null")

    # -- stop -----------------------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        stopped = [proc.name for proc in reversed(list(self.processes.values())) if stop_server(proc, 20.0)]
        self.processes.clear()
        self._forget()
        return stopped

    def status(self) -> dict[str, Any]:
        """JSON-ready: the URL, the login, each process and whether the pipeline's DAG is paused."""
        running = self.running()
        status: dict[str, Any] = {
            "url": self.api_url,
            "login": f"{ADMIN_USER} (password in {self.password_file})" if self.auth else "none (all admins)",
            "up": self.is_up(),
            "processes": {
                name: {"pid": proc.pid, "running": running[name], "log": proc.log}
                for name, proc in self.processes.items()
            },
            "dag_id": DAG_ID,
            "dag_paused": None,
        }
        if status["up"]:
            try:
                status["dag_paused"] = self.dag_paused()
            except (OSError, ValueError, KeyError) as exc:
                status["dag_error"] = str(exc)
        return status


def check_airflow_port(stack: LocalStack, port: int | None) -> None:
    """StackError unless ``port`` is free or already the stack's running Airflow's (None: any free port)."""
    if port is None:
        return
    services = AirflowServices.attach(stack)
    if services is not None and services.port == port and services.is_up():
        return
    _check_port_free(port)


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise StackError(f"Airflow's port {port} on 127.0.0.1 is not free ({exc.strerror})") from None


def start_airflow(
    stack: LocalStack,
    *,
    port: int | None = None,
    auth: bool = True,
    timeout: float = 600.0,
    log: Callable[[str], Any] = print,
) -> AirflowServices:
    """What ``local up --airflow`` does once the stack is up: reuse the stack's running Airflow, or start one.

    A running Airflow with another port or login setting than asked is an error (``local down`` first); one
    with a process gone is stopped and started again.
    """
    services = AirflowServices.attach(stack)
    if services is not None and services.is_up():
        if port is not None and port != services.port:
            raise StackError(
                f"Airflow already runs at {services.api_url}; `local down` first to use port {port}"
            )
        if auth != services.auth:
            raise StackError(
                f"Airflow already runs at {services.api_url} "
                f"{'with' if services.auth else 'without'} a login; `local down` first to change that"
            )
        log(f"local stack: Airflow already runs at {services.api_url}")
        return services
    if services is not None:
        log("local stack: part of Airflow is not running any more; restarting it")
        services.stop()
    services = AirflowServices(stack, port=port, auth=auth)
    log(f"local stack: starting Airflow at {services.api_url} ({', '.join(SERVICES)})")
    services.start(timeout=timeout)
    return services
