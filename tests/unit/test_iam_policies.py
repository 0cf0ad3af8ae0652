"""The IAM policies of deploy/cloudformation/pipeline.yaml: they parse, stay least-privilege, and allow every
AWS action the code calls. The policies are read from the template (their one source); deploy/iam/*.json
are generated from it (``python -m rdfox_local.cloudformation.iam_export``) and must match it.

The actions are *found in the code*, not listed by hand: every boto3 client call (a method named like an
operation of botocore's service models, plus ``get_paginator``/``get_waiter``/S3 transfers), every Amazon
provider class or hook method the code uses, and every Neptune ``/loader`` request. Each is mapped to its IAM
action and must be allowed by the policy of the role that runs that code:

- ``plugins/rdfox_pipeline`` (but ``cli/``, which runs with a person's credentials) and ``dags/``: the MWAA
  execution role;
- ``include/rdfox_local/steps`` (the pod's prepare and publish steps, the endpoint pod's fetch): the pod's
  IRSA role;
- ``cli/`` and every module it imports (``rdfox-pipeline`` run by an operator): the operators' CLI policy;
  functions only the CLI calls (CLI_ONLY_FUNCTIONS, e.g. the job table's Scan) need nothing on MWAA;
- Neptune's loader reads what publish wrote under ``<dataset>/<job_id>/data/``: the Neptune loader role.

A new call with no permission fails here with the file and line that needs it, and a policy that allows an
action no code calls fails too (both directions; no wildcard actions in the pipeline's own policies).
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from rdfox_local.cloudformation.iam_export import stale_files
from rdfox_local.cloudformation.template import POLICY_FILES as TEMPLATE_POLICIES
from rdfox_local.cloudformation.template import iam_policies, load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
IAM_DIR = REPO_ROOT / "deploy" / "iam"
PLUGIN_DIR = REPO_ROOT / "plugins" / "rdfox_pipeline"
STEPS_DIR = REPO_ROOT / "include" / "rdfox_local" / "steps"

# The services whose clients the code may create: their operations name the boto3 methods to look for.
SERVICES = ("s3", "dynamodb", "sns", "sqs", "ssm", "eks", "sts", "neptunedata", "neptune")
# boto3 method / operation -> IAM action, where the IAM action is not "<service>:<OperationName>".
OPERATION_ACTIONS: dict[str, tuple[str, ...]] = {
    "s3:HeadObject": ("s3:GetObject",),
    "s3:HeadBucket": ("s3:ListBucket",),
    "s3:ListObjectsV2": ("s3:ListBucket",),
    "s3:ListObjects": ("s3:ListBucket",),
    "s3:PutBucketNotificationConfiguration": ("s3:PutBucketNotification",),
    # Neptune's management API is RDS's: its IAM actions are rds:*.
    "neptune:DescribeDBClusters": ("rds:DescribeDBClusters",),
}
# boto3's managed transfers (s3transfer): HEAD + ranged GETs, or single/multipart PUTs (a failed multipart
# upload is aborted, which is its own permission).
TRANSFER_ACTIONS = {
    "download_file": ("s3:GetObject",),
    "download_fileobj": ("s3:GetObject",),
    "upload_file": ("s3:PutObject", "s3:AbortMultipartUpload"),
    "upload_fileobj": ("s3:PutObject", "s3:AbortMultipartUpload"),
}
# Where provider classes that call AWS live (cncf-kubernetes talks to Kubernetes, common.compat to Airflow).
AWS_PROVIDER_MODULES = ("airflow.providers.amazon.", "airflow.providers.common.messaging.")
# Amazon provider classes the code uses (subclasses or instances) -> what they call on AWS by themselves.
PROVIDER_CLASS_ACTIONS: dict[str, tuple[str, ...]] = {
    # Only credentials and sessions: no API call of its own (a role's credentials need no permission).
    "AwsBaseHook": (),
    # The session factory AwsBaseHook uses (rdfox_pipeline/aws/session_factory.py): sessions only, likewise.
    "BaseSessionFactory": (),
    # Deferrable S3KeyTrigger/S3Hook.check_for_key: HEAD the key; a 404 (not a 403) needs ListBucket.
    "S3KeySensor": ("s3:GetObject", "s3:ListBucket"),
    "S3KeyTrigger": ("s3:GetObject", "s3:ListBucket"),
    "S3Hook": (),  # its methods are mapped one by one below
    "SnsPublishOperator": ("sns:Publish",),
    # The kubeconfig comes from DescribeCluster; the token is a presigned sts:GetCallerIdentity (needs none).
    "EksPodOperator": ("eks:DescribeCluster",),
    # Its kubeconfig generators (generate_config_file[_with_credentials]) describe the cluster, likewise.
    "EksHook": ("eks:DescribeCluster",),
    # In the triggerer it builds the kubeconfig with EksHook's generator: DescribeCluster again.
    "EksPodTrigger": ("eks:DescribeCluster",),
    # The asset watcher's trigger (scheme "sqs"): ReceiveMessage, then DeleteMessageBatch of what it read.
    "MessageQueueTrigger": ("sqs:ReceiveMessage", "sqs:DeleteMessage"),
}
S3_HOOK_METHOD_ACTIONS: dict[str, tuple[str, ...]] = {
    "check_for_key": ("s3:GetObject", "s3:ListBucket"),
    "get_key": ("s3:GetObject",),
    "read_key": ("s3:GetObject",),
    "head_object": ("s3:GetObject", "s3:ListBucket"),
    "list_keys": ("s3:ListBucket",),
    "load_string": ("s3:PutObject",),
    "load_bytes": ("s3:PutObject",),
}
# Neptune's loader API over HTTP (SigV4 when IAM auth is on): (method, path) -> neptune-db action.
NEPTUNE_REQUESTS = {
    ("POST", "/loader"): "neptune-db:StartLoaderJob",
    ("GET", "/loader"): "neptune-db:ListLoaderJobs",
    ("GET", "/loader/{id}"): "neptune-db:GetLoaderJobStatus",
    ("DELETE", "/loader/{id}"): "neptune-db:CancelLoaderJob",
}
# Functions that never run on MWAA, with why; their calls need no permission in the execution role.
LOCAL_ONLY_FUNCTIONS = {
    "create_table_if_missing": "local stacks and tests create the job table; on AWS it comes with the "
    "infrastructure (docs/deploy.md)",
    # `rdfox-pipeline jobs import-legacy` only, with a person's credentials (docs/job-record.md lists them).
    "import_legacy_table": "the import itself",
    "check_table": "the import checks the job table's shape before writing",
    "import_record": "the import's conditional put of a whole record",
    "check_legacy_table": "the import describes the old table (read-only)",
    "scan_items": "the import scans the old table (read-only)",
}
# Functions only the CLI calls (checked below: MWAA code calls them only from one another); the MWAA role
# does not need what they call, the operators' CLI policy does.
CLI_ONLY_FUNCTIONS = {
    "cancel_load": "`rdfox-pipeline neptune cancel`: the pipeline never cancels a load",
    "list_jobs_page": "`rdfox-pipeline jobs list`: a Scan of the whole table without --status",
    "iter_jobs": "`rdfox-pipeline jobs list`, page by page",
    "iter_jobs_by_status": "`rdfox-pipeline jobs list --status`",
}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\}")
DOCUMENTED_PLACEHOLDERS = {
    "AccountId", "Region", "InputBucket", "OutputBucket", "JobTableName", "BulkloadTopicName",
    "JobspecQueueName", "EksClusterName", "NeptuneClusterResourceId", "NeptuneClusterId",
    "MwaaEnvironmentName", "MwaaBucket",
    "OidcProvider", "PodNamespace", "PodServiceAccount", "LegacyJobTableName",
}  # fmt: skip


@dataclass(frozen=True)
class Use:
    """One place in the code that needs an IAM action."""

    action: str
    where: str


# -- finding the calls --------------------------------------------------------------------------------------


def _operations() -> dict[str, list[str]]:
    """boto3 method name -> ["service:Operation", ...] for the services above."""
    session = botocore.session.get_session()
    out: dict[str, list[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            out.setdefault(xform_name(operation), []).append(f"{service}:{operation}")
    return out


def _waiter_operation(waiter: str) -> list[str]:
    session = botocore.session.get_session()
    found = []
    for service in SERVICES:
        try:
            model = session.get_waiter_model(service)
        except Exception:
            continue
        names = {xform_name(name): name for name in model.waiter_names}
        if waiter in names:
            found.append(f"{service}:{model.get_waiter(names[waiter]).operation}")
    return found


def _iam(operation: str) -> tuple[str, ...]:
    return OPERATION_ACTIONS.get(operation, (operation,))


def _functions_by_line(tree: ast.AST) -> list[tuple[int, int, str]]:
    return [
        (node.lineno, node.end_lineno or node.lineno, node.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _enclosing(functions: list[tuple[int, int, str]], line: int) -> set[str]:
    return {name for start, end, name in functions if start <= line <= end}


def _string(node: ast.AST | None) -> str | None:
    """A literal string, or an f-string with its placeholders as ``{id}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{id}" for v in node.values)
    return None


def find_uses(files: Iterable[Path], *, skip_local_only: bool, skip_cli_only: bool = False) -> Iterator[Use]:
    operations = _operations()
    skipped = (set(LOCAL_ONLY_FUNCTIONS) if skip_local_only else set()) | (
        set(CLI_ONLY_FUNCTIONS) if skip_cli_only else set()
    )
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        functions = _functions_by_line(tree)
        rel = path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else path.name
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(AWS_PROVIDER_MODULES)
            for alias in node.names
        }
        for name in sorted(imported):
            if name[:1].isupper():  # classes: hooks, operators, sensors, triggers
                if name not in PROVIDER_CLASS_ACTIONS:
                    raise AssertionError(
                        f"{rel}: uses provider class {name}: "
                        "add what it calls on AWS to PROVIDER_CLASS_ACTIONS"
                    )
                for action in PROVIDER_CLASS_ACTIONS[name]:
                    yield Use(action, f"{rel} ({name})")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if _enclosing(functions, node.lineno) & skipped:
                continue
            method, where = node.func.attr, f"{rel}:{node.lineno}"
            first = _string(node.args[0]) if node.args else None
            if method in operations:
                for operation in operations[method]:
                    for action in _iam(operation):
                        yield Use(action, where)
            elif method == "get_paginator" and first:
                for operation in operations.get(first, []):
                    for action in _iam(operation):
                        yield Use(action, where)
            elif method == "get_waiter" and first:
                for operation in _waiter_operation(first):
                    for action in _iam(operation):
                        yield Use(action, where)
            elif method in TRANSFER_ACTIONS:
                for action in TRANSFER_ACTIONS[method]:
                    yield Use(action, where)
            if "S3Hook" in imported and method in S3_HOOK_METHOD_ACTIONS:
                for action in S3_HOOK_METHOD_ACTIONS[method]:
                    yield Use(action, where)
            if method in ("_request", "_arequest") and first in ("GET", "POST", "PUT", "DELETE"):
                path_text = _string(node.args[1]) if len(node.args) > 1 else None
                if path_text is not None and path_text.startswith("/loader"):
                    action = NEPTUNE_REQUESTS.get((first, path_text))
                    assert action, f"{where}: Neptune request {first} {path_text} has no IAM action mapped"
                    yield Use(action, where)


def _python_files(*roots: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    files = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if "__pycache__" not in path.parts and not rel.startswith(exclude):
                files.append(path)
    return files


def mwaa_files() -> list[Path]:
    return _python_files(PLUGIN_DIR, REPO_ROOT / "dags", exclude=("cli/",))


def pod_files() -> list[Path]:
    return _python_files(STEPS_DIR)


def _module_file(module: str) -> Path | None:
    if not module.startswith("rdfox_pipeline."):
        return None
    base = PLUGIN_DIR.joinpath(*module.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def cli_files() -> list[Path]:
    """``cli/`` and every plugin module it imports, at any depth (imports inside functions too)."""
    seen: set[Path] = set()
    pending = _python_files(PLUGIN_DIR / "cli")
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            pending += [f for f in map(_module_file, names) if f is not None and f not in seen]
    return sorted(seen)


# -- reading the policies -----------------------------------------------------------------------------------


TEMPLATE_POLICY_DOCS = iam_policies()


def load(name: str) -> dict[str, Any]:
    """A policy as pipeline.yaml defines it (a copy: tests may change it)."""
    return json.loads(json.dumps(TEMPLATE_POLICY_DOCS[name]))


def cli_policy() -> dict[str, Any]:
    """What the operators' CLI may do: its policy and, while the old records are imported, the import's."""
    statements = load("operator-cli-policy.json")["Statement"]
    statements += load("operator-cli-legacy-import-policy.json")["Statement"]
    return {"Version": "2012-10-17", "Statement": statements}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(policy: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The Allow statements whose Action patterns match ``action`` (IAM matching is case-insensitive)."""
    return [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in _as_list(s.get("Action", [])))
    ]


def resources(policy: dict[str, Any], action: str) -> set[str]:
    return {r for s in allowed(policy, action) for r in _as_list(s.get("Resource", []))}


POLICY_FILES = sorted(TEMPLATE_POLICY_DOCS)


# -- the tests ----------------------------------------------------------------------------------------------


def test_the_expected_policy_files_exist() -> None:
    assert set(POLICY_FILES) == {
        "operator-cli-policy.json",
        "operator-cli-legacy-import-policy.json",
        "mwaa-execution-role-base-policy.json",
        "mwaa-execution-role-pipeline-policy.json",
        "mwaa-execution-role-trust.json",
        "neptune-loader-role-policy.json",
        "neptune-loader-role-trust.json",
        "rdfox-pod-irsa-policy.json",
        "rdfox-pod-irsa-trust.json",
    }


@pytest.mark.parametrize("name", POLICY_FILES)
def test_policy_is_well_formed(name: str) -> None:
    policy = load(name)
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"] if "Sid" in s]
    assert len(sids) == len(set(sids)), f"{name}: duplicate Sid"
    for statement in policy["Statement"]:
        assert statement["Effect"] in ("Allow", "Deny")
        assert set(statement) <= {
            "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "Condition"
        }, statement  # fmt: skip
        for sid in _as_list(statement.get("Sid", [])):
            assert re.fullmatch(r"[A-Za-z0-9]+", sid), f"{name}: Sid {sid!r} must be alphanumeric"
        for action in _as_list(statement.get("Action", [])):
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", action), f"{name}: bad action {action!r}"
            assert action != "*" and not action.endswith(":*"), f"{name}: {action} allows a whole service"
    placeholders = set(PLACEHOLDER.findall(json.dumps(policy)))
    assert placeholders <= DOCUMENTED_PLACEHOLDERS, (
        f"{name}: undocumented {placeholders - DOCUMENTED_PLACEHOLDERS}"
    )


@pytest.mark.parametrize("name", [n for n in POLICY_FILES if n.endswith("-policy.json")])
def test_resources_are_arns_and_wildcards_only_where_aws_requires(name: str) -> None:
    # Actions that have no resource-level permissions in IAM: "*" is the only possible resource.
    resourceless = {"s3:GetAccountPublicAccessBlock", "logs:DescribeLogGroups", "cloudwatch:PutMetricData"}
    for statement in load(name)["Statement"]:
        assert "Principal" not in statement, f"{name}: identity policies have no Principal"
        for resource in _as_list(statement.get("Resource", [])) + _as_list(statement.get("NotResource", [])):
            if resource == "*":
                assert set(_as_list(statement["Action"])) <= resourceless, (name, statement.get("Sid"))
            else:
                assert resource.startswith("arn:aws:"), (name, resource)


def test_every_placeholder_is_explained_in_the_deploy_doc() -> None:
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text()
    for placeholder in DOCUMENTED_PLACEHOLDERS:
        assert f"${{{placeholder}}}" in doc, f"docs/deploy.md does not explain ${{{placeholder}}}"
    for name in POLICY_FILES:
        assert name in doc, f"docs/deploy.md does not mention deploy/iam/{name}"


def test_the_scanner_finds_calls_and_can_fail(tmp_path: Path) -> None:
    # The finder must see boto3 calls, paginators, waiters, transfers, hook methods and Neptune requests.
    sample = tmp_path / "sample.py"
    sample_text = (
        "from airflow.providers.amazon.aws.hooks.s3 import S3Hook\n"
        "def f(client, s3, hook):\n"
        "    client.update_item(TableName='t')\n"
        "    client.get_paginator('get_parameters_by_path')\n"
        "    client.get_waiter('table_exists')\n"
        "    s3.upload_file('a', 'b', 'c')\n"
        "    S3Hook().read_key('k', 'b')\n"
        "    hook._request('POST', '/loader', body={})\n"
        "    hook._arequest('GET', f'/loader/{x}')\n"
        "def create_table_if_missing(client):\n"
        "    client.create_table(TableName='t')\n"
    )
    sample.write_text(sample_text)
    found = {u.action for u in find_uses([sample], skip_local_only=True)}
    with_local = {u.action for u in find_uses([sample], skip_local_only=False)}
    sample.write_text("from airflow.providers.amazon.aws.hooks.glue import GlueJobHook\n")
    with pytest.raises(AssertionError, match="GlueJobHook"):
        list(find_uses([sample], skip_local_only=True))
    assert found == {
        "dynamodb:UpdateItem",
        "ssm:GetParametersByPath",
        "dynamodb:DescribeTable",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:GetObject",
        "neptune-db:StartLoaderJob",
        "neptune-db:GetLoaderJobStatus",
    }
    assert with_local - found == {"dynamodb:CreateTable"}
    # And the policy check fails for an action no statement allows.
    assert not allowed(load("mwaa-execution-role-pipeline-policy.json"), "dynamodb:DeleteTable")


def _missing(uses: Iterable[Use], policy: dict[str, Any]) -> dict[str, list[str]]:
    missing: dict[str, list[str]] = {}
    for use in uses:
        if not allowed(policy, use.action):
            missing.setdefault(use.action, []).append(use.where)
    return missing


def test_mwaa_execution_role_allows_every_call_the_plugin_and_dags_make() -> None:
    uses = list(find_uses(mwaa_files(), skip_local_only=True, skip_cli_only=True))
    actions = {u.action for u in uses}
    # The scan sees the pipeline's main calls (a sanity floor, not the list the policy is checked against).
    assert {
        "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query", "ssm:GetParametersByPath",
        "s3:GetObject", "sns:Publish", "eks:DescribeCluster", "neptune-db:StartLoaderJob",
        "neptune-db:GetLoaderJobStatus", "sqs:ReceiveMessage",
    } <= actions  # fmt: skip
    missing = _missing(uses, load("mwaa-execution-role-pipeline-policy.json"))
    assert not missing, f"the MWAA execution role lacks: {missing}"


def test_pod_role_allows_every_call_the_steps_make() -> None:
    uses = list(find_uses(pod_files(), skip_local_only=False))
    assert {u.action for u in uses} >= {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}
    missing = _missing(uses, load("rdfox-pod-irsa-policy.json"))
    assert not missing, f"the pod's IRSA role lacks: {missing}"


def _unused(policy: dict[str, Any], needed: set[str]) -> list[str]:
    """Allowed actions (each named exactly: wildcards are refused above) that no code calls."""
    wanted = {a.lower() for a in needed}
    return [
        f"{action} ({statement.get('Sid')})"
        for statement in policy["Statement"]
        for action in _as_list(statement["Action"])
        if action.lower() not in wanted
    ]


def test_policies_allow_nothing_the_code_does_not_call() -> None:
    # Least privilege the other way round: every allowed action is needed by the code that runs with it.
    mwaa_needed = {u.action for u in find_uses(mwaa_files(), skip_local_only=True, skip_cli_only=True)}
    assert not _unused(load("mwaa-execution-role-pipeline-policy.json"), mwaa_needed)
    pod_needed = {u.action for u in find_uses(pod_files(), skip_local_only=False)}
    assert not _unused(load("rdfox-pod-irsa-policy.json"), pod_needed)
    cli_needed = {u.action for u in find_uses(cli_files(), skip_local_only=False)}
    assert not _unused(cli_policy(), cli_needed)


def test_only_the_cli_may_scan_the_job_table_or_cancel_a_load() -> None:
    for name in ("mwaa-execution-role-pipeline-policy.json", "rdfox-pod-irsa-policy.json"):
        for action in ("dynamodb:Scan", "neptune-db:CancelLoaderJob"):
            assert not allowed(load(name), action), f"{name} allows {action}"
    cli = cli_policy()
    assert allowed(cli, "dynamodb:Scan") and allowed(cli, "neptune-db:CancelLoaderJob")


def test_operator_cli_policy_allows_every_call_the_cli_makes() -> None:
    files = cli_files()
    assert (
        PLUGIN_DIR / "hooks" / "neptune_loader.py" in files and PLUGIN_DIR / "aws" / "job_table.py" in files
    )
    # create_table_if_missing is the local stack's (`rdfox-pipeline local`), never run against AWS.
    uses = [u for u in find_uses(files, skip_local_only=False) if u.action != "dynamodb:CreateTable"]
    assert {"dynamodb:Scan", "neptune-db:CancelLoaderJob", "s3:PutObject"} <= {u.action for u in uses}
    missing = _missing(uses, cli_policy())
    assert not missing, f"the operators' CLI policy lacks: {missing}"


@pytest.mark.parametrize("only", [LOCAL_ONLY_FUNCTIONS, CLI_ONLY_FUNCTIONS], ids=["local", "cli"])
def test_local_and_cli_only_functions_are_not_called_by_mwaa_code(only: dict[str, str]) -> None:
    for path in mwaa_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = _functions_by_line(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in only:
                # Only such functions may call it (the hook delegating to the table's method of the same
                # name, the import calling its steps, iter_jobs paging through list_jobs_page).
                assert _enclosing(functions, node.lineno) & set(only), (
                    f"{path.relative_to(REPO_ROOT)}:{node.lineno} calls {node.func.attr} on MWAA: "
                    f"{only[node.func.attr]}"
                )


def test_resources_follow_the_code_layout() -> None:
    from rdfox_pipeline.domain.settings import SSM_PATH

    mwaa = load("mwaa-execution-role-pipeline-policy.json")
    ssm_path = SSM_PATH.rstrip("/")
    assert resources(mwaa, "ssm:GetParametersByPath") == {
        f"arn:aws:ssm:${{Region}}:${{AccountId}}:parameter{ssm_path}",
        f"arn:aws:ssm:${{Region}}:${{AccountId}}:parameter{ssm_path}/*",
    }
    # The job table and its status index (the registration's lookups query the index).
    table = "arn:aws:dynamodb:${Region}:${AccountId}:table/${JobTableName}"
    assert resources(mwaa, "dynamodb:Query") == {table, f"{table}/index/*"}
    # MWAA writes only the job record's large fields into the output bucket, where job_table puts them.
    assert resources(mwaa, "s3:PutObject") == {"arn:aws:s3:::${OutputBucket}/*/metadata/*"}
    job_table = (PLUGIN_DIR / "aws" / "job_table.py").read_text()
    assert re.search(r'key = f"\{job\.dataset\}/\{job_id\}/metadata/', job_table)
    # The Neptune loader reads only the job's data/ prefix, which is what the load operator points it at.
    loader = load("neptune-loader-role-policy.json")
    assert resources(loader, "s3:GetObject") == {"arn:aws:s3:::${OutputBucket}/*/data/*"}
    from rdfox_pipeline.operators.neptune_load import default_source

    assert fnmatch.fnmatchcase(
        "arn:aws:s3:::OUT/" + default_source("OUT", "DS", "DS_2024-01-01_001")[len("s3://OUT/") :] + "x.nt",
        "arn:aws:s3:::OUT/*/data/*",
    )
    # The pod reads inputs and writes outputs; of the outputs the endpoint pod reads only a job's data/.
    pod = load("rdfox-pod-irsa-policy.json")
    assert resources(pod, "s3:GetObject") == {
        "arn:aws:s3:::${InputBucket}/*",
        "arn:aws:s3:::${OutputBucket}/*/data/*",
    }
    assert resources(pod, "s3:PutObject") == {"arn:aws:s3:::${OutputBucket}/*"}
    (listing,) = [s for s in allowed(pod, "s3:ListBucket") if "Condition" in s]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["*/*/data/*"]}}


def test_trust_policies_name_the_right_principals() -> None:
    mwaa = load("mwaa-execution-role-trust.json")["Statement"][0]
    assert set(mwaa["Principal"]["Service"]) == {"airflow.amazonaws.com", "airflow-env.amazonaws.com"}
    loader = load("neptune-loader-role-trust.json")["Statement"][0]
    assert loader["Principal"] == {"Service": "rds.amazonaws.com"}
    # Only this account's Neptune cluster may pass the role (confused deputy).
    assert loader["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${AccountId}"},
        "ArnLike": {"aws:SourceArn": "arn:aws:rds:${Region}:${AccountId}:cluster:${NeptuneClusterId}"},
    }
    irsa = load("rdfox-pod-irsa-trust.json")["Statement"][0]
    assert irsa["Action"] == "sts:AssumeRoleWithWebIdentity"
    condition = irsa["Condition"]["StringEquals"]
    assert condition["${OidcProvider}:sub"] == "system:serviceaccount:${PodNamespace}:${PodServiceAccount}"
    assert condition["${OidcProvider}:aud"] == "sts.amazonaws.com"


def test_kubernetes_manifest_matches_the_settings_and_the_pod_operator() -> None:
    import yaml
    from rdfox_pipeline.domain.settings import SETTINGS

    defaults = {s.name: s.default for s in (SETTINGS.values() if isinstance(SETTINGS, dict) else SETTINGS)}
    docs = list(yaml.safe_load_all((REPO_ROOT / "deploy" / "k8s" / "rdfox-namespace.yaml").read_text()))
    by_kind = {d["kind"]: d for d in docs}
    namespace = defaults["KUBERNETES_NAMESPACE"]
    assert by_kind["Namespace"]["metadata"]["name"] == namespace
    account = by_kind["ServiceAccount"]
    assert (account["metadata"]["name"], account["metadata"]["namespace"]) == (
        defaults["SERVICE_ACCOUNT"],
        namespace,
    )
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    # What the pod operator (cncf-kubernetes PodManager) calls in the namespace, and nothing more.
    rules = {(r["resources"][0], v) for r in by_kind["Role"]["rules"] for v in r["verbs"]}
    for call in ("create", "get", "list", "watch", "patch", "delete"):
        assert ("pods", call) in rules
    assert ("pods/log", "get") in rules and ("events", "list") in rules
    # Secrets: an endpoint's own may be created and deleted, none read (tests/unit/test_pod_hardening.py).
    assert not [r for r in by_kind["Role"]["rules"] if "*" in r["verbs"]]
    assert {v for r in by_kind["Role"]["rules"] if "secrets" in r["resources"] for v in r["verbs"]} <= {
        "create", "delete"
    }  # fmt: skip
    binding = by_kind["RoleBinding"]
    assert binding["subjects"][0]["name"] == "rdfox-pipeline-airflow"
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text()
    assert "--kubernetes-groups rdfox-pipeline-airflow" in doc and "groups: [rdfox-pipeline-airflow]" in doc


def test_the_policy_files_are_generated_from_the_template() -> None:
    # deploy/iam/ is pipeline.yaml's policies, written by the export; an edit of one without the other fails.
    assert {p.name for p in IAM_DIR.glob("*.json")} == set(TEMPLATE_POLICIES)
    assert not stale_files(IAM_DIR), "run: python -m rdfox_local.cloudformation.iam_export"


@functools.cache
def _uses_for_policy(name: str) -> tuple[Use, ...]:
    """What the code that runs with ``name`` calls (scanned once per policy for the tests below)."""
    if name == "mwaa-execution-role-pipeline-policy.json":
        return tuple(find_uses(mwaa_files(), skip_local_only=True, skip_cli_only=True))
    if name == "rdfox-pod-irsa-policy.json":
        return tuple(find_uses(pod_files(), skip_local_only=False))
    uses = find_uses(cli_files(), skip_local_only=False)
    return tuple(u for u in uses if u.action != "dynamodb:CreateTable")


@pytest.mark.parametrize(
    ("resource", "sid", "action"),
    [
        ("MwaaPipelinePolicy", "Notifications", "sns:Publish"),
        ("MwaaPipelinePolicy", "JobRecords", "dynamodb:UpdateItem"),
        ("MwaaPipelinePolicy", "NeptuneBulkLoader", "neptune-db:StartLoaderJob"),
        ("PodRole", "PublishUploadsTheOutputs", "s3:PutObject"),
        ("OperatorCliPolicy", "NeptuneBulkLoaderByHand", "neptune-db:CancelLoaderJob"),
    ],
)
def test_a_statement_missing_from_the_template_fails_the_check(resource: str, sid: str, action: str) -> None:
    # The check reads the template: drop one statement the code needs and the role lacks that action.
    template = load_template()
    properties = template["Resources"][resource]["Properties"]
    document = (
        properties["Policies"][0]["PolicyDocument"]
        if "Policies" in properties
        else properties["PolicyDocument"]
    )
    before = len(document["Statement"])
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
    assert len(document["Statement"]) == before - 1
    name = next(
        n for n, (logical_id, part) in TEMPLATE_POLICIES.items() if logical_id == resource and part != "trust"
    )
    policy = iam_policies(template)[name]
    uses = _uses_for_policy(name)
    missing = _missing(uses, policy)
    assert action in missing, missing
    # And the intact template's policy allows it.
    assert allowed(load(name), action)
