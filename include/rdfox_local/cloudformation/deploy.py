"""``make deploy``: from an empty account to a running pipeline with deploy/cloudformation's two templates.

``python -m rdfox_local.cloudformation.deploy --parameters FILE [--dry-run]`` runs (or, dry, prints) the AWS
CLI and kubectl commands of docs/deploy.md in order: pipeline.yaml; mwaa.yaml's bucket; the MWAA bundle
(``make mwaa-bundle``, with a startup script exporting the jobspec queue's URL) uploaded to it; mwaa.yaml's
environment with the uploaded object versions; then the post-deploy steps (the Neptune loader role on the
cluster, the EKS access entry and deploy/k8s, the Airflow connections in Secrets Manager, the pool with
``include_deferred``). A value that comes from an earlier step's answer is shown as ``<Name>`` in a dry run.
Never run by the tests or CI (they run ``--dry-run`` only).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess  # nosec B404
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rdfox_local.cloudformation.template import MWAA_TEMPLATE, PIPELINE_TEMPLATE

REPO_ROOT = PIPELINE_TEMPLATE.parents[2]
BUNDLE_DIR = REPO_ROOT / "dist" / "mwaa"
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
# Applied in this order; optional-node-reader.yaml and the licence template are left to the reader.
K8S_FILES = ("rdfox-namespace.yaml", "rdfox-networkpolicy.yaml")
POOL = "rdfox_pods"  # the DAG's pool for the pod task (dags/rdfox_neptune_pipeline.py)
# How the AWS CLI and the REST API say a create found its object there already (a rerun of make deploy).
ALREADY_THERE = ("ResourceExistsException", "ResourceInUseException", "already exists", "409", "Conflict")
REQUIRED = {
    "pipeline": ("NeptuneClusterEndpoint", "NeptuneClusterId", "NeptuneClusterResourceId", "EksClusterName",
                 "OidcProvider"),
    "mwaa": ("VpcId", "SubnetIds"),
}  # fmt: skip


class DeployError(ValueError):
    """The parameters file is incomplete or malformed; the message names the key."""


@dataclass(frozen=True)
class DeployParameters:
    region: str
    pipeline_stack: str
    mwaa_stack: str
    pipeline: Mapping[str, str]
    mwaa: Mapping[str, str]
    pool_slots: int

    @classmethod
    def from_file(cls, path: Path) -> DeployParameters:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DeployError(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            raise DeployError(f"{path}: a mapping of keys is expected")
        unknown = set(data) - {"region", "pipeline_stack", "mwaa_stack", "pipeline", "mwaa", "pool_slots"}
        if unknown:
            raise DeployError(f"{path}: unknown keys {sorted(unknown)}")
        if not data.get("region"):
            raise DeployError(f"{path}: region: missing")
        sections: dict[str, dict[str, str]] = {}
        for section, required in REQUIRED.items():
            values = data.get(section) or {}
            if not isinstance(values, dict):
                raise DeployError(f"{path}: {section}: a mapping of template parameters is expected")
            missing = [key for key in required if not str(values.get(key, "")).strip()]
            if missing:
                raise DeployError(f"{path}: {section}.{missing[0]}: missing (needed by the template)")
            sections[section] = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in values.items()}
        slots = data.get("pool_slots", 4)
        if not isinstance(slots, int) or slots < 1:
            raise DeployError(f"{path}: pool_slots: a positive integer is expected, got {slots!r}")
        return cls(
            region=str(data["region"]),
            pipeline_stack=str(data.get("pipeline_stack") or "rdfox-pipeline"),
            mwaa_stack=str(data.get("mwaa_stack") or "rdfox-pipeline-mwaa"),
            pipeline=sections["pipeline"],
            mwaa=sections["mwaa"],
            pool_slots=slots,
        )


@dataclass(frozen=True)
class Step:
    """One command; ``capture`` names the value its output gives later steps."""

    what: str
    argv: tuple[str, ...]
    capture: str | None = None
    input_text: str | None = None  # the command's standard input
    input_file: Path | None = None  # a deploy/k8s file on standard input, the pod role's ARN put in
    exists_ok: bool = False  # a rerun finds it done: "already exists" is no failure


Values = Callable[[str], str]


def _overrides(values: Mapping[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in values.items()]


def _stack_output(p: DeployParameters, stack: str, key: str) -> tuple[str, ...]:
    return ("aws", "cloudformation", "describe-stacks", "--region", p.region, "--stack-name", stack,
            "--query", f"Stacks[0].Outputs[?OutputKey=='{key}'].OutputValue", "--output", "text")  # fmt: skip


def steps(p: DeployParameters, value: Values) -> Iterator[Step]:
    """The commands in order; ``value(name)`` is an earlier step's captured output."""
    aws = ("aws", "--region", p.region)
    yield Step(
        "pipeline.yaml: buckets, queue, topic, table, settings, IAM roles",
        (*aws, "cloudformation", "deploy", "--no-fail-on-empty-changeset", "--stack-name", p.pipeline_stack,
         "--template-file", str(PIPELINE_TEMPLATE.relative_to(REPO_ROOT)),
         "--capabilities", "CAPABILITY_NAMED_IAM", "--parameter-overrides", *_overrides(p.pipeline)),
    )  # fmt: skip
    for key in ("MwaaBucketName", "MwaaExecutionRoleArn", "MwaaEnvironmentName", "JobspecQueueUrl",
                "NeptuneLoaderRoleArn", "PodRoleArn", "InputBucketName"):  # fmt: skip
        yield Step(f"pipeline output {key}", _stack_output(p, p.pipeline_stack, key), capture=key)
    bucket = value("MwaaBucketName")
    mwaa_base = {
        "EnvironmentName": value("MwaaEnvironmentName"),
        "SourceBucketName": bucket,
        "ExecutionRoleArn": value("MwaaExecutionRoleArn"),
        **p.mwaa,
    }
    mwaa_template = str(MWAA_TEMPLATE.relative_to(REPO_ROOT))
    mwaa_deploy = (*aws, "cloudformation", "deploy", "--no-fail-on-empty-changeset",
                   "--stack-name", p.mwaa_stack, "--template-file", mwaa_template)  # fmt: skip
    yield Step(
        "mwaa.yaml, first pass: the environment's bucket only",
        (*mwaa_deploy, "--parameter-overrides", *_overrides({**mwaa_base, "CreateEnvironment": "false"})),
    )
    bundle = str(BUNDLE_DIR.relative_to(REPO_ROOT))
    # dags/ first: MWAA reads the constraints file from the DAGs folder when it installs the requirements.
    yield Step(
        "upload the DAGs and the constraints file",
        (*aws, "s3", "sync", f"{bundle}/dags", f"s3://{bucket}/dags/"),
    )
    for key in ("plugins.zip", "requirements.txt"):
        yield Step(f"upload {key}", (*aws, "s3", "cp", f"{bundle}/{key}", f"s3://{bucket}/{key}"))
    startup = f"export RDFOX_PIPELINE_JOBSPEC_QUEUE_URL={shlex.quote(value('JobspecQueueUrl'))}\n"
    yield Step(
        "the startup script (the asset watcher's queue)",
        (*aws, "s3", "cp", "-", f"s3://{bucket}/startup.sh"),
        input_text=startup,
    )
    versions = {}
    for key, name in (
        ("plugins.zip", "PluginsS3ObjectVersion"),
        ("requirements.txt", "RequirementsS3ObjectVersion"),
        ("startup.sh", "StartupScriptS3ObjectVersion"),
    ):
        head = (
            "s3api",
            "head-object",
            "--bucket",
            bucket,
            "--key",
            key,
            "--query",
            "VersionId",
            "--output",
            "text",
        )
        yield Step(f"{key}'s version", (*aws, *head), capture=name)
        versions[name] = value(name)
    final = {**mwaa_base, **versions, "CreateEnvironment": "true"}
    yield Step(
        "mwaa.yaml: the environment with those object versions (20-30 minutes)",
        (*mwaa_deploy, "--parameter-overrides", *_overrides(final)),
    )
    environment = value("MwaaEnvironmentName")
    cluster = p.pipeline["EksClusterName"]
    yield Step(
        "the Neptune loader role on the cluster",
        (*aws, "neptune", "add-role-to-db-cluster", "--db-cluster-identifier", p.pipeline["NeptuneClusterId"],
         "--role-arn", value("NeptuneLoaderRoleArn")),
        exists_ok=True,
    )  # fmt: skip
    access = ("--kubernetes-groups", "rdfox-pipeline-airflow", "--type", "STANDARD")
    yield Step(
        "the MWAA execution role in the EKS cluster (group rdfox-pipeline-airflow)",
        (*aws, "eks", "create-access-entry", "--cluster-name", cluster,
         "--principal-arn", value("MwaaExecutionRoleArn"), *access),
        exists_ok=True,
    )  # fmt: skip
    yield Step("kubeconfig for kubectl", (*aws, "eks", "update-kubeconfig", "--name", cluster))
    for name in K8S_FILES:
        yield Step(f"deploy/k8s/{name}", ("kubectl", "apply", "-f", "-"), input_file=K8S_DIR / name)
    region = p.region
    connections = {
        "aws_default": {"conn_type": "aws", "extra": {"region_name": region}},
        "neptune_default": {"conn_type": "neptune", "extra": {"iam_auth": True, "region": region}},
    }
    for conn_id, connection in connections.items():
        yield Step(
            f"connection {conn_id} (Secrets Manager: airflow/connections/{conn_id})",
            (*aws, "secretsmanager", "create-secret", "--name", f"airflow/connections/{conn_id}",
             "--secret-string", json.dumps(connection, sort_keys=True)),
            exists_ok=True,
        )  # fmt: skip
    pool = {"name": POOL, "slots": p.pool_slots, "include_deferred": True,
            "description": "RDFox pods running at once"}  # fmt: skip
    yield Step(
        f"the pool {POOL} with include_deferred (Airflow's REST API through MWAA)",
        (*aws, "mwaa", "invoke-rest-api", "--name", environment, "--method", "POST", "--path", "/pools",
         "--body", json.dumps(pool, sort_keys=True)),
        exists_ok=True,
    )  # fmt: skip


def _input(step: Step, pod_role_arn: str) -> str | None:
    if step.input_file is None:
        return step.input_text
    text = step.input_file.read_text(encoding="utf-8")
    return text.replace("arn:aws:iam::${AccountId}:role/rdfox-pipeline-pod", pod_role_arn)


def run(p: DeployParameters, *, dry_run: bool, out: Any = sys.stdout) -> int:
    """Run (or print) the steps in order; 0 when all succeeded."""
    captured: dict[str, str] = {}

    def value(name: str) -> str:
        return captured.get(name, f"<{name}>")

    for step in steps(p, value):
        line = shlex.join(step.argv)
        if step.input_file is not None:
            line += f"  < {step.input_file.relative_to(REPO_ROOT)}  # the pod role's ARN put in"
        print(f"# {step.what}\n{line}", file=out)
        for row in (step.input_text or "").splitlines():
            print(f"#   input: {row}", file=out)
        if dry_run:
            continue
        done = subprocess.run(  # noqa: S603  # nosec B603
            step.argv, input=_input(step, value("PodRoleArn")), capture_output=True, text=True, check=False
        )
        if done.returncode != 0 and step.exists_ok and any(s in done.stderr for s in ALREADY_THERE):
            print("# already there: left as it is (change it by hand if it must differ)", file=out)
            continue
        if done.returncode != 0:
            print(f"failed ({done.returncode}): {done.stderr.strip()[-2000:]}", file=sys.stderr)
            return 1
        if step.capture:
            captured[step.capture] = done.stdout.strip()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rdfox_local.cloudformation.deploy", description=__doc__)
    parser.add_argument("--parameters", type=Path, required=True, help="the deployment's parameters (YAML)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    args = parser.parse_args(argv)
    try:
        params = DeployParameters.from_file(args.parameters)
    except DeployError as exc:
        print(f"deploy: error: {exc}", file=sys.stderr)
        return 2
    if not args.dry_run and not (BUNDLE_DIR / "plugins.zip").is_file():
        print(f"deploy: error: no MWAA bundle in {BUNDLE_DIR}: run `make mwaa-bundle` first", file=sys.stderr)
        return 2
    return run(params, dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
