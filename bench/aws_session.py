"""AWS hook clients: CPU per client with the provider's session factory and with the package's shared-loader
one (``rdfox_pipeline.aws.session_factory``, enabled by ``[aws] session_factory``).

Each hook builds a boto3 session; the provider's parses botocore's JSON data again for each. One fresh
interpreter per factory makes the same hooks (S3, SNS, DynamoDB) many times, no request sent; the figure is
the ratio of CPU per client, shared / provider's, measured in the same run (goal: at most a half).
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404
import sys
from pathlib import Path
from typing import Any

from bench import figure

REPO = Path(__file__).resolve().parent.parent
GOAL_RATIO = 0.5

_CHILD = r"""
import json, resource, sys
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook, SessionFactory
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sns import SnsHook

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

rounds = int(sys.argv[1])
S3Hook().conn  # the first client loads what any factory loads once (imports, the credential chain)
start = cpu()
for _ in range(rounds):
    S3Hook().conn; SnsHook().conn; AwsBaseHook(client_type="dynamodb").conn
print(json.dumps({"factory": SessionFactory.__name__, "per_client": (cpu() - start) / (3 * rounds)}))
"""


def _measure(factory: str | None, rounds: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__AWS__SESSION_FACTORY"}
    if factory:
        env["AIRFLOW__AWS__SESSION_FACTORY"] = factory
    env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "login": "bench", "password": "bench", "extra": {"region_name": "eu-west-2"}}
    )
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "plugins"), env.get("PYTHONPATH", "")])
    done = subprocess.run(  # nosec B603
        [sys.executable, "-c", _CHILD, str(rounds)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        cwd=REPO,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict[str, Any]]:
    from rdfox_pipeline.aws.session_factory import SESSION_FACTORY_PATH

    rounds = 5 if quick else 30
    provider = _measure(None, rounds)
    shared = _measure(SESSION_FACTORY_PATH, rounds)
    assert provider["factory"] == "BaseSessionFactory" and shared["factory"] == "SharedLoaderSessionFactory"
    return [
        figure(
            "aws hook client CPU, shared loader / provider's",
            shared["per_client"] / provider["per_client"],
            unit="ratio",
            goal=GOAL_RATIO,
            op="<=",
            provider_ms=round(provider["per_client"] * 1000, 1),
            shared_ms=round(shared["per_client"] * 1000, 1),
            clients=3 * rounds,
        )
    ]
