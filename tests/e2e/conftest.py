"""End-to-end fixtures: the local stack (rdfox_local.stack), once per test process, and how to run a job."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DAG_ID = "rdfox_neptune_pipeline"


@dataclass
class Stack:
    stack: Any  # rdfox_local.stack.stack.LocalStack
    demo: Any  # rdfox_local.stack.demo.Demo, for its S3/DynamoDB/SQS helpers
    data_dir: Path

    @property
    def neptune_url(self) -> str:
        return self.stack.state().servers["neptune"].url

    @property
    def kubernetes_url(self) -> str:
        return self.stack.state().servers["kubernetes"].url

    def http_json(self, url: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def upload_dataset(self, dataset: str, extra: dict[str, str] | None = None, rules: bool = True) -> None:
        """The generated data (and the sample rules/queries unless ``rules`` is False) under <dataset>/."""
        bucket = self.demo.resources["input_bucket"]
        files = sorted(p for p in self.data_dir.iterdir() if p.is_file())
        if rules:
            files += self.demo.sample_files()
        for path in files:
            self.demo.s3.upload_file(str(path), bucket, f"{dataset}/{path.name}")
        for name, text in (extra or {}).items():
            self.demo.s3.put_object(Bucket=bucket, Key=f"{dataset}/{name}", Body=text.encode())

    def jobspec(self, dataset: str, **extra: Any) -> dict[str, Any]:
        return {
            "dataset": dataset,
            "job_bucket": self.demo.resources["input_bucket"],
            "output_bucket": self.demo.resources["output_bucket"],
            "resources": {"cores": 1, "memory": "1Gi"},
            **extra,
        }

    def run_dag(self, conf: dict[str, Any], name: str) -> tuple[int, str]:
        """``airflow dags test`` with ``conf``; returns (exit status, log text)."""
        log_path = self.stack.log_dir / f"{name}.airflow.log"
        code = self.demo.run_dag(conf, log_path)
        return code, log_path.read_text(errors="replace")

    def notifications_for(self, job_id: str) -> list[dict[str, Any]]:
        return [m for m in self.demo.notifications(wait_seconds=5) if job_id in json.dumps(m)]

    def pods(self) -> list[dict[str, Any]]:
        return self.http_json(self.kubernetes_url + "/api/v1/pods").get("items", [])

    def neptune_stats(self) -> dict[str, Any]:
        return self.http_json(self.neptune_url + "/_emulator/stats")


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole local stack, started through the same code as `rdfox-pipeline local up`: once per test
    process (xdist worker), shared by the e2e modules, each of which uses datasets of its own."""
    from rdfox_local.stack.demo import Demo
    from rdfox_local.stack.stack import LocalStack

    state_dir = tmp_path_factory.mktemp("rdfox-local")
    stack = LocalStack(state_dir)
    state = stack.up(log=lambda _msg: None)
    try:
        demo = Demo(stack, state, transactions=500, log=lambda _msg: None)
        data_dir = state_dir / "generated"
        data_dir.mkdir()
        demo.generate(data_dir)
        yield Stack(stack, demo, data_dir)
    finally:
        stopped = stack.down(log=lambda _msg: None)
        assert set(stopped) == {"moto", "neptune", "kubernetes"}


def airflow_cli(stack: Stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    return subprocess.run(
        [airflow, *args], env=stack.stack.process_env(), capture_output=True, text=True, timeout=timeout
    )


def wait_for(predicate: Any, timeout: float, interval: float = 1.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")
