"""Neptune emulator load rate against pyoxigraph's own bulk load of the same file, measured in one run.

The file is a synthetic N-Triples export (``rdfox_local.samplegen``: parties, addresses, transactions).
Two rates, in triples per second, each the best of a few repeats:

- **raw**: ``pyoxigraph.Store().bulk_load(data)`` of the file's bytes, in this process (the floor: what the
  emulator's store can do at best);
- **emulator**: the emulator as its own process, the file in moto's S3 server: from ``POST /loader`` to the
  moment ``GET /loader/{id}`` first reports ``LOAD_COMPLETED`` (polled every 10 ms), i.e. everything a client
  waits for: HTTP, validation, S3 listing and download, counting records and duplicates, the store's load.

The figure is emulator rate / raw rate (goal >= 0.5); it does not depend on the machine's speed. The load's
result is checked too (status, totalRecords, quads in the store): a fast wrong load does not count.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import figure

REPO = Path(__file__).resolve().parent.parent
GOAL_RATIO = 0.5
TRANSACTIONS = int(os.environ.get("BENCH_NEPTUNE_TRANSACTIONS", "60000"))
QUICK_TRANSACTIONS = 5000
REPEATS = int(os.environ.get("BENCH_NEPTUNE_REPEATS", "3"))
REGION = "eu-west-2"
ROLE_ARN = "arn:aws:iam::123456789012:role/NeptuneLoadFromS3"
POLL_SECONDS = 0.01
LOAD_TIMEOUT_SECONDS = 600.0
# Where Neptune (and the emulator) put triples of triple formats; the raw load uses the same graph.
NEPTUNE_GRAPH = "http://aws.amazon.com/neptune/vocab/v01/DefaultNamedGraph"


def sample_ntriples(transactions: int) -> bytes:
    sys.path.insert(0, str(REPO / "include"))
    from rdfox_local.samplegen.generator import SampleOptions, generate_lines

    [lines] = generate_lines(SampleOptions(transactions=transactions, files=1))
    return "".join(line + "\n" for line in lines).encode("utf-8")


def raw_bulk_load_seconds(data: bytes) -> tuple[float, int]:
    """Best wall time of pyoxigraph's bulk_load of ``data`` into a fresh in-memory store; and its quads."""
    import pyoxigraph as ox

    best, quads = float("inf"), 0
    for _ in range(REPEATS):
        store = ox.Store()
        started = time.perf_counter()
        store.bulk_load(data, ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode(NEPTUNE_GRAPH))
        best = min(best, time.perf_counter() - started)
        quads = len(store)
        del store
    return best, quads


# -- the emulator as a client sees it -------------------------------------------------------------------
def _call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"{}")


@contextmanager
def _servers(workdir: Path) -> Iterator[tuple[str, str]]:
    """moto's server and the Neptune emulator, as processes on free ports; yields their URLs."""
    from rdfox_local.stack.processes import free_port, start_server, stop_server, wait_until_answering

    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto's dummy credentials: never real AWS
        "AWS_DEFAULT_REGION": REGION,
        "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
    }
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    moto_port, emulator_port = free_port(), free_port()
    moto_url, emulator_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{emulator_port}"
    moto_bin = str(Path(sys.executable).with_name("moto_server"))
    servers = []
    try:
        servers.append(start_server(
            "moto", [moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)],
            port=moto_port, url=moto_url, log_dir=workdir, env=env,
        ))  # fmt: skip
        wait_until_answering(servers[-1], "/moto-api/")
        import boto3
        from rdfox_local.neptune_emulator.role_access import ensure_loader_role

        iam = boto3.client(
            "iam", endpoint_url=moto_url, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        ensure_loader_role(iam, ROLE_ARN)  # the emulator refuses a load whose role is not attached
        servers.append(start_server(
            "emulator",
            [sys.executable, "-m", "rdfox_local.neptune_emulator", "--host", "127.0.0.1",
             "--port", str(emulator_port), "--s3-endpoint", moto_url, "--region", REGION,
             "--attached-role", ROLE_ARN, "--log-level", "WARNING"],
            port=emulator_port, url=emulator_url, log_dir=workdir, env=env,
        ))  # fmt: skip
        wait_until_answering(servers[-1], "/_emulator/stats")
        yield moto_url, emulator_url
    finally:
        for server in servers:
            stop_server(server)


def _upload(moto_url: str, data: bytes) -> str:
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=moto_url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    bucket = f"bench-neptune-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="BENCH/BENCH_2024-01-01_000/data/part-0001.nt", Body=data)
    return f"s3://{bucket}/BENCH/BENCH_2024-01-01_000/data/"


def emulator_load_seconds(emulator_url: str, source: str, expected_triples: int) -> tuple[float, dict]:
    """Best wall time from POST /loader to LOAD_COMPLETED seen by a poller; checks every load's result."""
    best, overall = float("inf"), {}
    body = {"source": source, "format": "ntriples", "iamRoleArn": ROLE_ARN, "region": REGION, "mode": "NEW"}
    for _ in range(REPEATS):
        _call("POST", f"{emulator_url}/_emulator/reset", {})  # empty store, no loads
        started = time.perf_counter()
        load_id = _call("POST", f"{emulator_url}/loader", body)["payload"]["loadId"]
        while True:
            overall = _call("GET", f"{emulator_url}/loader/{load_id}")["payload"]["overallStatus"]
            if overall["status"] not in ("LOAD_NOT_STARTED", "LOAD_IN_QUEUE", "LOAD_IN_PROGRESS"):
                break
            if time.perf_counter() - started > LOAD_TIMEOUT_SECONDS:
                raise TimeoutError(f"load {load_id} still {overall['status']} after {LOAD_TIMEOUT_SECONDS} s")
            time.sleep(POLL_SECONDS)
        elapsed = time.perf_counter() - started
        stored = _call("GET", f"{emulator_url}/_emulator/stats")["store_quads"]
        if overall["status"] != "LOAD_COMPLETED" or overall["totalRecords"] != expected_triples:
            raise RuntimeError(f"the emulator's load is wrong: {overall}")
        if stored != expected_triples:
            raise RuntimeError(f"the emulator's store holds {stored} quads, expected {expected_triples}")
        best = min(best, elapsed)
    return best, overall


def run(quick: bool = False) -> dict[str, Any]:
    transactions = QUICK_TRANSACTIONS if quick else TRANSACTIONS
    data = sample_ntriples(transactions)
    raw_s, triples = raw_bulk_load_seconds(data)
    with tempfile.TemporaryDirectory(prefix="bench-neptune-") as tmp, _servers(Path(tmp)) as (moto, emulator):
        source = _upload(moto, data)
        emulator_s, overall = emulator_load_seconds(emulator, source, triples)
    raw_rate, emulator_rate = triples / raw_s, triples / emulator_s
    details = {
        "triples": triples,
        "file_mb": round(len(data) / 1e6, 1),
        "raw_triples_per_s": round(raw_rate),
        "emulator_triples_per_s": round(emulator_rate),
        "raw_seconds": round(raw_s, 3),
        "emulator_seconds": round(emulator_s, 3),
        "repeats": REPEATS,
        "duplicates_reported": overall.get("totalDuplicates"),
    }
    return {
        "figures": [
            figure(
                "Neptune emulator load rate / pyoxigraph bulk_load",
                round(emulator_rate / raw_rate, 3),
                goal=GOAL_RATIO,
                op=">=",
                **details,
            )
        ],
        **details,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
