"""``make deploy``'s commands (rdfox_local.cloudformation.deploy), in its dry mode only: CI never deploys."""

from __future__ import annotations

import io
import shlex
from pathlib import Path

import pytest
from rdfox_local.cloudformation.deploy import DeployError, DeployParameters, main, run
from rdfox_local.cloudformation.template import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "deploy" / "parameters.example.yaml"


def _commands() -> list[list[str]]:
    out = io.StringIO()
    assert run(DeployParameters.from_file(EXAMPLE), dry_run=True, out=out) == 0
    lines = [line.split("  <")[0] for line in out.getvalue().splitlines() if not line.startswith("#")]
    return [shlex.split(line) for line in lines]


def _overrides(command: list[str]) -> dict[str, str]:
    start = command.index("--parameter-overrides") + 1
    return dict(item.split("=", 1) for item in command[start:])


def test_dry_run_walks_from_the_templates_to_a_pool() -> None:
    commands = _commands()
    joined = [" ".join(c) for c in commands]
    deploys = [c for c in commands if c[3:5] == ["cloudformation", "deploy"]]
    assert all("--no-fail-on-empty-changeset" in c for c in deploys)  # a rerun with no change succeeds
    assert [c[c.index("--template-file") + 1] for c in deploys] == [
        "deploy/cloudformation/pipeline.yaml",
        "deploy/cloudformation/mwaa.yaml",
        "deploy/cloudformation/mwaa.yaml",
    ]
    # Every override names a parameter of its template (a typo would make CloudFormation refuse the deploy).
    for command in deploys:
        template = load_template(REPO_ROOT / command[command.index("--template-file") + 1])
        assert set(_overrides(command)) <= set(template["Parameters"]), command
    first, second = (_overrides(c) for c in deploys[1:])
    assert first["CreateEnvironment"] == "false" and second["CreateEnvironment"] == "true"
    assert second["PluginsS3ObjectVersion"] == "<PluginsS3ObjectVersion>"
    # The bundle goes up between the two passes, DAGs (with the constraints file) first.
    order = [
        i for i, line in enumerate(joined) if "s3 sync dist/mwaa/dags" in line or "plugins.zip s3://" in line
    ]
    assert joined.index(" ".join(deploys[1])) < order[0] < order[1] < joined.index(" ".join(deploys[2]))
    for needed in ("neptune add-role-to-db-cluster", "eks create-access-entry", "kubectl apply -f -",
                   "secretsmanager create-secret --name airflow/connections/neptune_default",
                   "mwaa invoke-rest-api"):  # fmt: skip
        assert any(needed in line for line in joined), needed
    (pool,) = [c for c in commands if "invoke-rest-api" in c]
    assert '"include_deferred": true' in pool[pool.index("--body") + 1]


def test_bad_parameters_are_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "p.yaml"
    broken.write_text(EXAMPLE.read_text().replace("  VpcId: vpc-0123456789abcdef0\n", ""))
    with pytest.raises(DeployError, match=r"mwaa\.VpcId: missing"):
        DeployParameters.from_file(broken)
    assert main(["--parameters", str(broken), "--dry-run"]) == 2
    assert "mwaa.VpcId: missing" in capsys.readouterr().err
    broken.write_text("region: eu-west-2\nregoin: x\n")
    with pytest.raises(DeployError, match="unknown keys"):
        DeployParameters.from_file(broken)
