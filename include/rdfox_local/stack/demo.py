"""``rdfox-pipeline local demo``: one whole job through Airflow on the local stack, with a readable summary.

Steps: bring the stack up (unless it is), generate a small real dataset, upload it with the sample rules,
queries and a jobspec to ``s3://<input>/<dataset>/``, run the DAG with ``airflow dags test`` (it waits for the
jobspec, registers the job, runs the pod on the Kubernetes emulator, parses the log, loads Neptune's emulator,
notifies), then read the job record, count the triples in the Neptune emulator, read the SNS message from
the topic's SQS subscription, and print the summary; the very last line is one JSON object.

With a jobspec file (``local demo --jobspec PATH``, e.g. the old job-submitter's
``include/samples/legacy-submitter.rdfoxjob.json``) that document is uploaded byte for byte, under the dataset
it names, instead of the demo's own; its buckets must be the stack's.
"""

from __future__ import annotations

import json
import re
import subprocess  # nosec B404
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from rdfox_pipeline.triggers.resume_floor import RESUME_FLOOR_ENV

from rdfox_local.stack.stack import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    LocalStack,
    StackError,
    StackState,
    repo_root,
)

DAG_ID = "rdfox_neptune_pipeline"
DATASET = "SAMPLE"
SUCCESS = "SUCCESS_NOTIFICATION_SENT"
COUNT_QUERY = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
# The sample's inputs: every file in include/samples/ except jobspecs (the demo writes its own).
SAMPLE_SUFFIXES = (".dlog", ".rq")


@dataclass
class DemoResult:
    job_id: str | None
    status: str | None
    inferred_triples: int | None
    loaded_triples: int | None
    neptune_query_count: int | None
    notification_subject: str | None
    error_reason: str | None = None
    notification_message: str | None = None
    jobspec_notes: list[str] | None = None
    endpoint_pod: str | None = None
    endpoint_expires_at: str | None = None

    def summary_json(self) -> str:
        keys = ("job_id", "status", "inferred_triples", "loaded_triples", "neptune_query_count")
        data = {k: getattr(self, k) for k in keys}
        data["notification_subject"] = self.notification_subject
        return json.dumps(data)


_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
_NEW_STATE = re.compile(r"new_state=([a-z_]+)")


def task_state_changes(log_text: str) -> list[tuple[str, str]]:
    """(task id, state) in the order ``airflow dags test`` logs them: tasks run one at a time there."""
    changes: list[tuple[str, str]] = []
    current: str | None = None
    for line in log_text.splitlines():
        started = _TASK_START.search(line)
        if started:
            current = started.group(1)
            changes.append((current, "running"))
            continue
        state = _NEW_STATE.search(line)
        if state and current:
            changes.append((current, state.group(1)))
    return changes


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints/floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Demo:
    """One demo run against ``stack`` (which must be up)."""

    def __init__(
        self,
        stack: LocalStack,
        state: StackState,
        *,
        transactions: int = 2000,
        seed: int = 7,
        log: Callable[[str], None] = print,
        airflow_env: Mapping[str, str] | None = None,
    ) -> None:
        """``airflow_env``: variables on top of the stack's for ``airflow dags test`` (e.g. another DAGs and
        plugins folder, as the MWAA bundle's check uses)."""
        self.airflow_env = dict(airflow_env or {})
        self.stack = stack
        self.state = state
        self.transactions = transactions
        self.seed = seed
        self.log = log
        moto = state.servers["moto"].url
        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        )
        self.s3 = session.client("s3", endpoint_url=moto)
        self.sqs = session.client("sqs", endpoint_url=moto)
        self.dynamodb = session.resource("dynamodb", endpoint_url=moto)
        self.resources = state.resources

    # -- inputs ---------------------------------------------------------------------------------------------

    def generate(self, out_dir: Path) -> list[Path]:
        """A small real dataset from the sample generator (deterministic for a seed)."""
        args = [
            sys.executable,
            "-m",
            "rdfox_pipeline.cli.main",
            "sample",
            "generate",
            str(out_dir),
            "--transactions",
            str(self.transactions),
            "--seed",
            str(self.seed),
        ]
        done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
        if done.returncode != 0:
            raise StackError(f"sample generation failed: {done.stderr.strip()[-1000:]}")
        return sorted(p for p in out_dir.rglob("*") if p.is_file())

    def sample_files(self) -> list[Path]:
        samples = repo_root() / "include" / "samples"
        # Top level only: sub-directories are datasets of their own (legacy-style/).
        return sorted(p for p in samples.glob("*") if p.is_file() and p.suffix in SAMPLE_SUFFIXES)

    def jobspec(self, name: str) -> dict[str, Any]:
        return {
            "dataset": DATASET,
            "name": name,
            "job_bucket": self.resources["input_bucket"],
            "output_bucket": self.resources["output_bucket"],
            "resources": {"cores": 1, "memory": "1Gi"},
        }

    def upload(
        self, files: list[Path], jobspec: Mapping[str, Any] | bytes, name: str, dataset: str = DATASET
    ) -> str:
        """Upload data, rules and queries, then the jobspec last (its arrival is what starts a job)."""
        bucket = self.resources["input_bucket"]
        for path in files:
            self.s3.upload_file(str(path), bucket, f"{dataset}/{path.name}")
        key = f"{dataset}/{name}.rdfoxjob.json"
        body = jobspec if isinstance(jobspec, bytes) else json.dumps(jobspec, indent=2).encode()
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        return f"s3://{bucket}/{key}"

    # -- the run --------------------------------------------------------------------------------------------

    def run_dag(self, conf: Mapping[str, Any], log_path: Path) -> int:
        airflow = str(Path(sys.executable).with_name("airflow"))
        env = self.stack.process_env(self.airflow_env)
        # `dags test` runs each trigger inline in the task's process: no scheduler whose race the resume floor
        # guards against (triggers/resume_floor.py), so no 20 s hold per deferral unless the caller sets one.
        env.setdefault(RESUME_FLOOR_ENV, "0")
        self.log(f"running the DAG {DAG_ID} through Airflow (airflow dags test); log: {log_path}")
        started = time.monotonic()
        with open(log_path, "w") as out:
            proc = subprocess.Popen(  # noqa: S603  # nosec B603
                [airflow, "dags", "test", DAG_ID, "-c", json.dumps(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                text=True,
            )
            seen: set[str] = set()
            while proc.poll() is None:
                time.sleep(1)
                self._progress(log_path, seen)
            self._progress(log_path, seen)
        self.log(
            f"the DAG run ended after {time.monotonic() - started:.0f} s (exit status {proc.returncode})"
        )
        return proc.returncode

    def _progress(self, log_path: Path, seen: set[str]) -> None:
        """Print each task's state changes (running, deferred, success, failed, ...) as the run logs them."""
        try:
            text = log_path.read_text(errors="replace")
        except OSError:
            return
        for index, (task_id, state) in enumerate(task_state_changes(text)):
            key = f"{index}:{task_id}:{state}"
            if key not in seen:
                seen.add(key)
                self.log(f"  {task_id:<24} {state}")

    # -- outcome --------------------------------------------------------------------------------------------

    def job_records(self, dataset: str = DATASET) -> dict[str, dict[str, Any]]:
        """Every job record of ``dataset`` by job id."""
        table = self.dynamodb.Table(self.resources["job_table"])
        items = table.query(
            KeyConditionExpression="dataset = :d",
            ExpressionAttributeValues={":d": dataset},
            ConsistentRead=True,
        ).get("Items", [])
        return {str(i["job_id"]): _plain(i) for i in items}

    def job_ids(self, dataset: str = DATASET) -> set[str]:
        return set(self.job_records(dataset))

    def job_record(self, job_id: str, dataset: str = DATASET) -> dict[str, Any]:
        return self.job_records(dataset).get(job_id, {})

    def neptune_count(self) -> int | None:
        url = self.state.servers["neptune"].url + "/sparql"
        body = urllib.parse.urlencode({"query": COUNT_QUERY}).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback URL of our own emulator
            url, data=body, headers={"Accept": "application/sparql-results+json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
            data = json.loads(response.read())
        bindings = data["results"]["bindings"]
        return int(bindings[0]["n"]["value"]) if bindings else 0

    def notifications(self, wait_seconds: int = 5) -> list[dict[str, Any]]:
        """SNS messages delivered to the demo's subscription queue (consumed)."""
        queue = self.resources["notification_queue_url"]
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            if out and not messages:
                break
        return out

    def run(self, work_dir: Path, jobspec_file: Path | None = None) -> DemoResult:
        stamp = int(time.time())
        name, dataset = f"demo-{stamp}", DATASET
        jobspec: Mapping[str, Any] | bytes = self.jobspec(name)
        if jobspec_file is not None:
            jobspec, dataset = jobspec_file_for_demo(jobspec_file, self.resources)
            name = f"{jobspec_file.name.split('.')[0]}-{stamp}"
        data_dir = work_dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log(f"generating {self.transactions} transactions (seed {self.seed})")
        files = self.generate(data_dir) + self.sample_files()
        uri = self.upload(files, jobspec, name, dataset)
        self.log(f"uploaded {len(files)} files and the jobspec {uri}")
        self.notifications(wait_seconds=1)  # drop messages of earlier runs
        before = self.job_ids(dataset)
        self.run_dag({"jobspec_uri": uri}, self.stack.log_dir / f"{name}.airflow.log")
        new = sorted(self.job_ids(dataset) - before)
        if not new:
            return DemoResult(None, None, None, None, None, None, "no job was registered")
        job_id = new[-1]
        record = self.job_record(job_id, dataset)
        stats = record.get("rdfox_stats") or {}
        neptune = record.get("neptune_stats") or {}
        messages = [m for m in self.notifications() if job_id in json.dumps(m)]
        return DemoResult(
            job_id=job_id,
            status=record.get("job_status"),
            inferred_triples=stats.get("triples_materialised_amount"),
            loaded_triples=neptune.get("total_records"),
            neptune_query_count=self.neptune_count(),
            notification_subject=messages[0].get("Subject") if messages else None,
            error_reason=record.get("error_reason"),
            notification_message=messages[0].get("Message") if messages else None,
            jobspec_notes=record.get("jobspec_notes"),
            endpoint_pod=record.get("rdfox_endpoint_pod"),
            endpoint_expires_at=record.get("rdfox_endpoint_expires_at"),
        )


def jobspec_file_for_demo(path: Path, resources: Mapping[str, Any]) -> tuple[bytes, str]:
    """The file's bytes (uploaded unchanged) and its dataset; StackError if the stack cannot run it."""
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StackError(f"--jobspec {path}: not valid JSON ({exc})") from None
    dataset = data.get("dataset", data.get("job_key")) if isinstance(data, dict) else None
    if not isinstance(dataset, str) or not dataset:
        raise StackError(f"--jobspec {path}: names no dataset (dataset, or job_key in the old flat form)")
    for key in ("job_bucket", "output_bucket"):
        wanted = resources["input_bucket" if key == "job_bucket" else "output_bucket"]
        if data.get(key) not in (None, wanted):
            raise StackError(f"--jobspec {path}: {key} is {data[key]!r}; the local stack's is {wanted!r}")
    return raw, dataset


def print_summary(result: DemoResult, log: Callable[[str], None] = print) -> None:
    log("")
    log("=== rdfox-pipeline demo ===")
    log(f"job id              {result.job_id}")
    log(f"status              {result.status}")
    log(f"inferred triples    {result.inferred_triples}")
    log(f"loaded triples      {result.loaded_triples}")
    log(f"SPARQL COUNT(*)     {result.neptune_query_count}  (Neptune emulator)")
    log(f"notification        {result.notification_subject}")
    if result.error_reason:
        log(f"error               {result.error_reason}")
    for note in result.jobspec_notes or ():
        log(f"jobspec note        {note}")
    if result.endpoint_pod:
        log(
            f"kept endpoint       {result.endpoint_pod} until {result.endpoint_expires_at} "
            f"(`rdfox-pipeline endpoint delete {result.job_id}` ends it now)"
        )
    if result.notification_message:
        log("--- SNS message ---")
        log(result.notification_message.rstrip())


def run_demo(
    state_dir: Path | str | None = None,
    *,
    transactions: int = 2000,
    keep_up: bool = False,
    log: Callable[[str], None] = print,
    jobspec_file: Path | None = None,
) -> int:
    """The whole demo; exit status 0 only if the job reached SUCCESS_NOTIFICATION_SENT.

    A kept endpoint (old-form ``auto_shutdown`` false or absent) ends with the stack when this call stopped
    it; with ``keep_up`` it lives until its TTL or ``rdfox-pipeline endpoint delete``.
    """
    stack = LocalStack(state_dir)
    started_here = not stack.is_up()
    try:
        state = stack.up(log=log)
        demo = Demo(stack, state, transactions=transactions, log=log)
        with tempfile.TemporaryDirectory(prefix="rdfox-demo-") as work:
            result = demo.run(Path(work), jobspec_file)
        print_summary(result, log)
    finally:
        if started_here and not keep_up:
            stack.down(log=log)
    print(result.summary_json(), flush=True)
    return 0 if result.status == SUCCESS else 1
