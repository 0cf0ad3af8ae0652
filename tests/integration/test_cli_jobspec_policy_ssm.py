"""`rdfox-pipeline jobspec validate --ssm` / `pod render --ssm`: the operator's SSM settings (moto's server)
decide what a jobspec may choose, as they do for a run (issue 18 item 1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rdfox_pipeline.cli.main import main

from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture


def test_ssm_opens_a_field_the_environment_alone_would_refuse(
    isolated_settings: Callable[[str, str], None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("JOBSPEC_ALLOWED_FIELDS", "INPUT_BUCKET", "OUTPUT_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "big.rdfoxjob.json"
    path.write_text(json.dumps({"dataset": "D", "kubernetes": {"namespace": "rdfox-big"}}))
    for name, value in (("INPUT_BUCKET", "in-b"), ("OUTPUT_BUCKET", "out-b")):
        isolated_settings(name, value)
    isolated_settings("JOBSPEC_ALLOWED_FIELDS", '{"kubernetes.namespace": ["rdfox-big"]}')

    assert main(["jobspec", "validate", str(path)]) == 2  # the environment has no allow-list
    assert "kubernetes.namespace: closed to jobspecs" in capsys.readouterr().err
    assert main(["jobspec", "validate", str(path), "--ssm"]) == 0
    assert json.loads(capsys.readouterr().out)["kubernetes"]["namespace"] == "rdfox-big"
    assert main(["pod", "render", str(path), "--ssm"]) == 0
    assert "namespace: rdfox-big" in capsys.readouterr().out

    isolated_settings("LOCAL_STACK", "false")  # SSM wins over the test environment's LOCAL_STACK=true
    assert main(["pod", "render", str(path), "--ssm"]) == 2
    assert "IMAGE_REGISTRY_ALLOWLIST: is empty" in capsys.readouterr().err
