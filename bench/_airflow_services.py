"""A real Airflow on the local stack: api-server, dag-processor, scheduler (LocalExecutor) and triggerer as
separate processes, the way MWAA runs them. Used by the deferral bench and by the fault tests that restart
the triggerer (``airflow dags test`` runs triggers in-process, so it cannot show what a restart does).

What it adds to ``rdfox_local.stack.LocalStack``: the four services, runs triggered in one process (a CLI
call per run costs seconds), run/task states read from the metadata database, and a sampler of the
LocalExecutor's busy worker slots (each worker sets its process title to the task it runs).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess  # nosec B404
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

DAG_ID = "rdfox_neptune_pipeline"
SERVICES = ("api-server", "dag-processor", "scheduler", "triggerer")
FINISHED_RUN_STATES = ("success", "failed")
WORKER_TITLE = "airflow worker -- LocalExecutor:"

# Triggers every run given as JSON lines on stdin in ONE process; prints one run id per line.
_TRIGGER = r"""
import json, sys
from airflow.api.common.trigger_dag import trigger_dag
from airflow.utils.types import DagRunTriggeredByType
for line in sys.stdin:
    item = json.loads(line)
    run = trigger_dag(dag_id=item["dag_id"], run_id=item["run_id"], conf=item["conf"],
                      triggered_by=DagRunTriggeredByType.TEST)
    print(run.run_id, flush=True)
"""


@dataclass
class Run:
    run_id: str
    state: str | None
    start: datetime | None
    end: datetime | None

    @property
    def seconds(self) -> float | None:
        return (self.end - self.start).total_seconds() if self.start and self.end else None


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass
class SlotSampler:
    """Integrates the number of busy LocalExecutor worker slots over time (``busy_seconds``)."""

    scheduler_pid: int
    interval: float = 0.2
    busy_seconds: float = 0.0
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def busy_now(self) -> int:
        import psutil

        try:
            children = psutil.Process(self.scheduler_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return 0
        busy = 0
        for child in children:
            try:
                title = " ".join(child.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if title.startswith(WORKER_TITLE) and "<idle>" not in title:
                busy += 1
        return busy

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            busy = self.busy_now()
            now = time.monotonic()
            self.busy_seconds += busy * (now - last)
            self.peak = max(self.peak, busy)
            last = now
            self._stop.wait(self.interval)

    def __enter__(self) -> SlotSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)


class AirflowServices:
    """The four Airflow services for ``stack`` (a started ``LocalStack``); ``start()``/``stop()``."""

    def __init__(
        self,
        stack: Any,
        *,
        parallelism: int = 4,
        extra_env: Mapping[str, str] | None = None,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.stack = stack
        self.log = log
        self.api_port = _free_port()
        self.log_dir = Path(stack.log_dir)
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = stack.process_env(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                # A dead triggerer's triggers are picked up by the next one after this many seconds.
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # Free ports, not 8793/8794: a SIGKILLed triggerer's log server (Airflow 3.0) outlives it
                # and holds its port, and two batches on one machine would clash.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
                **(extra_env or {}),
            }
        )
        self.db_path = Path(self.env["AIRFLOW_HOME"]) / "airflow.db"

    # -- processes ------------------------------------------------------------------------------------------
    def _start(self, name: str) -> None:
        airflow = str(Path(sys.executable).with_name("airflow"))
        args = [airflow, name]
        if name == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(self.api_port)]
        log = open(self.log_dir / f"airflow-{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.procs[name] = subprocess.Popen(  # nosec B603
            args, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()
        self.log(f"airflow {name}: pid {self.procs[name].pid}")

    def start(self, timeout: float = 240.0) -> None:
        try:
            self._start("api-server")
            self._wait_http(f"http://127.0.0.1:{self.api_port}/api/v2/version", timeout)
            for name in SERVICES[1:]:
                self._start(name)
            self._wait(lambda: self._dag_serialized(), timeout, "the DAG to be parsed by the dag-processor")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop_service(name)

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop one service and every process it started (its session)."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def restart(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill ``name`` (SIGKILL by default: a crash, not a clean shutdown) and start it again."""
        self.stop_service(name, sig)
        self._start(name)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow services exited: {dead}; logs in {self.log_dir}")

    # -- runs -----------------------------------------------------------------------------------------------
    def trigger(self, confs: Sequence[Mapping[str, Any]], prefix: str = "run") -> list[str]:
        """One dag run per conf, all triggered by one process; returns the run ids."""
        stamp = int(time.time() * 1000)
        run_ids = [f"{prefix}-{stamp}-{i}" for i in range(len(confs))]
        lines = [
            json.dumps({"dag_id": DAG_ID, "run_id": run_id, "conf": dict(conf)})
            for run_id, conf in zip(run_ids, confs, strict=True)
        ]
        done = subprocess.run(  # nosec B603
            [sys.executable, "-c", _TRIGGER],
            input="\n".join(lines) + "\n",
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"triggering runs failed: {done.stderr[-2000:]}")
        printed = {line.strip() for line in done.stdout.splitlines()}  # Airflow may log to stdout too
        missing = [r for r in run_ids if r not in printed]
        if missing:
            raise RuntimeError(f"runs not triggered: {missing}: {done.stdout[-1000:]} {done.stderr[-1000:]}")
        return run_ids

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        for attempt in range(10):
            try:
                with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10) as conn:
                    return list(conn.execute(sql, args))
            except sqlite3.OperationalError:
                if attempt == 9:
                    raise
                time.sleep(0.5)
        return []

    def runs(self, run_ids: Iterable[str]) -> dict[str, Run]:
        ids = list(run_ids)
        marks = ",".join("?" * len(ids))
        sql = "SELECT run_id, state, start_date, end_date FROM dag_run WHERE dag_id = ? AND run_id IN "
        rows = self._query(sql + f"({marks})", [DAG_ID, *ids])  # nosec B608 - only "?" placeholders added
        return {r[0]: Run(r[0], r[1], _parse_time(r[2]), _parse_time(r[3])) for r in rows}

    def task_states(self, run_id: str) -> dict[str, str | None]:
        rows = self._query(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", [DAG_ID, run_id]
        )
        return {r[0]: r[1] for r in rows}

    def task_tries(self, run_id: str, task_id: str) -> int:
        rows = self._query(
            "SELECT try_number FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?",
            [DAG_ID, run_id, task_id],
        )
        return int(rows[0][0]) if rows else 0

    def wait_runs(self, run_ids: Sequence[str], timeout: float) -> dict[str, Run]:
        def finished() -> dict[str, Run] | None:
            self.check_alive()
            runs = self.runs(run_ids)
            if len(runs) == len(run_ids) and all(r.state in FINISHED_RUN_STATES for r in runs.values()):
                return runs
            return None

        return self._wait(finished, timeout, f"{len(run_ids)} runs to finish", interval=2.0)

    def wait_task_state(self, run_id: str, task_id: str, states: Sequence[str], timeout: float) -> str:
        def reached() -> str | None:
            self.check_alive()
            state = self.task_states(run_id).get(task_id)
            if state in states:
                return state
            run = self.runs([run_id]).get(run_id)
            if run is not None and run.state in FINISHED_RUN_STATES:  # it will never get there: say why now
                raise RuntimeError(
                    f"{run_id} ended ({run.state}) before {task_id} was {states}: {self.task_states(run_id)}"
                )
            return None

        return self._wait(reached, timeout, f"{task_id} of {run_id} to be {'/'.join(states)}", interval=1.0)

    def slot_sampler(self) -> SlotSampler:
        return SlotSampler(self.procs["scheduler"].pid)

    # -- helpers --------------------------------------------------------------------------------------------
    def _dag_serialized(self) -> bool:
        self.check_alive()
        try:
            return bool(self._query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", [DAG_ID]))
        except sqlite3.OperationalError:
            return False

    def _wait_http(self, url: str, timeout: float) -> None:
        import urllib.request

        def answers() -> bool:
            self.check_alive()
            try:
                with urllib.request.urlopen(url, timeout=3):  # nosec B310 - loopback
                    return True
            except OSError:
                return False

        self._wait(answers, timeout, f"{url} to answer")

    @staticmethod
    def _wait(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"waited {timeout:.0f} s for {what}")

    def __enter__(self) -> AirflowServices:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a local stack whose images can be made slow or faulty ---------------------------------------------------
# Extra image-map entries (tried before the shipped ones): a jobspec picks a fault by the image tag it names.
# {python} is the emulator's interpreter; "$0" "$@" re-run the real command after the injected behaviour.
_SLOW = 'sleep {seconds}; exec "$0" "$@"'
FAULT_IMAGES: dict[str, dict[str, Any]] = {
    # The prepare step fails (a pod step failing).
    "rdfox-pipeline/prepare:fail-*": {
        "programs": {"python": ["/bin/sh", "-c", "echo 'prepare: injected failure' >&2; exit 3"]}
    },
    # The rdfox step exits 0 without writing rdfox.log (rdfox.log missing).
    "*oxfordsemantic/rdfox:nolog-*": {"programs": {"/bin/sh": ["/bin/sh", "-c", "exit 0", "sh"]}},
    # The publish step finds S3 unreachable (S3 unavailable during publish).
    "rdfox-pipeline/publish:s3down-*": {
        "programs": {"python": ["/usr/bin/env", "AWS_ENDPOINT_URL=http://127.0.0.1:9", "{python}"]}
    },
}


def faulty_stack(state_dir: Path, *, pod_seconds: float = 0.0, license_text: str | None = None) -> Any:
    """A ``LocalStack`` whose prepare step takes ``pod_seconds`` longer (a pod that runs a while, as real ones
    do), whose image map also knows FAULT_IMAGES, and whose Kubernetes secrets hold ``license_text`` as
    RDFox.lic (the local reasoner runs either way: no RDFox binary is installed)."""
    import yaml
    from rdfox_local.stack.stack import LocalStack

    class _Stack(LocalStack):
        def _k8s_files(self) -> tuple[Path, Path]:
            default_map, secrets_dir = super()._k8s_files()
            document = yaml.safe_load(default_map.read_text())
            extra = [{"match": pattern, **entry} for pattern, entry in FAULT_IMAGES.items()]
            if pod_seconds:
                for entry in document["images"]:
                    if entry["match"].lstrip("*").startswith("rdfox-pipeline/prepare"):
                        python = entry["programs"]["python"]
                        entry["programs"]["python"] = [
                            "/bin/sh",
                            "-c",
                            _SLOW.format(seconds=float(pod_seconds)),
                            *python,
                        ]
            document["images"] = extra + document["images"]
            # {map_dir} of the shipped map must keep meaning the shipped map's folder.
            text = yaml.safe_dump(document).replace("{map_dir}", str(default_map.parent))
            image_map = self.k8s_dir / "image-map.yaml"
            image_map.write_text(text)
            if license_text is not None:
                license_dir = secrets_dir / "rdfox-license"
                license_dir.mkdir(parents=True, exist_ok=True)
                (license_dir / "RDFox.lic").write_text(license_text)
            return image_map, secrets_dir

    return _Stack(state_dir)
