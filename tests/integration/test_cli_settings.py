"""`rdfox-pipeline settings show|diff-legacy` against moto's SSM over HTTP: each value's source (SSM,
environment, jobspec, default), secrets never printed, and the SSM commands diff-legacy prints really restore
the old defaults. One run as a user runs it (a subprocess); the rest in-process through ``cli.main.main``."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from rdfox_pipeline.cli.main import main
from rdfox_pipeline.domain.settings import SSM_PATH

from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated_settings", "cli_stdout_only")]
CLI = [str(Path(sys.executable).with_name("rdfox-pipeline"))]
OLD_SUBJECT = "Inference Result Notification for ID - {job_id} - JobStatus.{status}"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def show_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = run(capsys, "settings", "show", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_each_value_names_its_source(
    isolated_settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    isolated_settings("NEPTUNE_PARALLELISM", "MEDIUM")
    isolated_settings("LOG_LEVEL", "warning")
    monkeypatch.setenv("LOG_LEVEL", "debug")  # SSM wins over the environment
    monkeypatch.setenv("RDFOX_ENDPOINT_TTL_HOURS", "6")
    monkeypatch.delenv("NEPTUNE_SOURCE_FORMAT", raising=False)
    jobspec = tmp_path / "job.rdfoxjob.json"
    jobspec.write_text(json.dumps({"dataset": "DS", "neptune": {"parallelism": "LOW"}}))
    # The trust boundary closes the field to jobspecs unless the operator opens it (docs/security.md).
    monkeypatch.setenv("JOBSPEC_ALLOWED_FIELDS", '{"neptune.parallelism": ["LOW"]}')

    rows = show_json(capsys, "--ssm")
    assert rows["NEPTUNE_PARALLELISM"] == {"value": "MEDIUM", "source": "ssm"}
    assert rows["LOG_LEVEL"] == {"value": "warning", "source": "ssm"}
    assert rows["RDFOX_ENDPOINT_TTL_HOURS"] == {"value": 6, "source": "environment"}
    assert rows["NEPTUNE_SOURCE_FORMAT"] == {"value": "turtle", "source": "default"}

    rows = show_json(capsys, "--ssm", "--jobspec", str(jobspec))
    assert rows["NEPTUNE_PARALLELISM"] == {"value": "LOW", "source": "jobspec"}
    assert rows["LOG_LEVEL"] == {"value": "warning", "source": "ssm"}

    # Without --ssm nothing is read from AWS: the environment decides.
    rows = show_json(capsys)
    assert rows["LOG_LEVEL"] == {"value": "debug", "source": "environment"}
    assert rows["NEPTUNE_PARALLELISM"]["source"] == "default"

    code, out, _ = run(capsys, "settings", "show", "--ssm")
    assert code == 0
    assert any(line.split() == ["NEPTUNE_PARALLELISM", "ssm", "MEDIUM"] for line in out.splitlines())


def test_secret_looking_values_are_never_printed(
    aws_endpoint: str, isolated_settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("ssm").put_parameter(
        Name=SSM_PATH + "RDFOX_LICENSE_SECRET", Value="licence-name-kept-secure", Type="SecureString"
    )
    # A credential pasted into a setting by mistake (user:password@ in an endpoint URL).
    monkeypatch.setenv("NEPTUNE_CLUSTER_ENDPOINT", "https://admin:hunter22secret@neptune.example:8182")
    monkeypatch.setenv("RDFOX_PASSWORD_SECRET", "rdfox-password")  # the *name* of a Kubernetes Secret
    for verb in (["show"], ["show", "--json"], ["diff-legacy"], ["diff-legacy", "--json"]):
        code, out, err = run(capsys, "settings", *verb, "--ssm")
        assert code == 0, err
        assert "licence-name-kept-secure" not in out + err and "hunter22secret" not in out + err
    rows = show_json(capsys, "--ssm")
    assert rows["RDFOX_LICENSE_SECRET"] == {"value": "[hidden]", "source": "ssm"}
    assert rows["NEPTUNE_CLUSTER_ENDPOINT"] == {"value": "[hidden]", "source": "environment"}
    assert rows["RDFOX_PASSWORD_SECRET"] == {"value": "rdfox-password", "source": "environment"}


def test_diff_legacy_lists_changed_defaults_and_its_commands_restore_them(
    isolated_settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("NEPTUNE_PARALLELISM", "NEPTUNE_FAIL_ON_ERROR", "NOTIFICATION_SUBJECT_TEMPLATE"):
        monkeypatch.delenv(name, raising=False)
    isolated_settings("NEPTUNE_FAIL_ON_ERROR", "true")  # an operator's change from the old default

    code, out, err = run(capsys, "settings", "diff-legacy", "--ssm", "--json")
    assert code == 0, err
    report = json.loads(out)
    by_name = {d["name"]: d for d in report["differences"]}
    assert set(by_name) == {"NEPTUNE_PARALLELISM", "NEPTUNE_FAIL_ON_ERROR", "NOTIFICATION_SUBJECT_TEMPLATE"}
    assert by_name["NEPTUNE_PARALLELISM"] | {"reason": ""} == {
        "name": "NEPTUNE_PARALLELISM", "value": "HIGH", "source": "default", "old_default": "OVERSUBSCRIBE",
        "reason": "",
        "restore": f"aws ssm put-parameter --name {SSM_PATH}NEPTUNE_PARALLELISM --value OVERSUBSCRIBE "
        "--type String --overwrite",
    }  # fmt: skip
    assert by_name["NEPTUNE_FAIL_ON_ERROR"]["source"] == "ssm"
    assert by_name["NOTIFICATION_SUBJECT_TEMPLATE"]["old_default"] == OLD_SUBJECT
    assert report["old_default_not_known"] == ["JOB_TABLE_NAME", "KUBERNETES_NAMESPACE", "SERVICE_ACCOUNT"]

    # Run each printed command's parameters (as the shell would split them) against SSM: nothing is left.
    ssm = boto3.client("ssm")
    for difference in report["differences"]:
        argv = shlex.split(difference["restore"])
        assert argv[:3] == ["aws", "ssm", "put-parameter"] and argv[-3:] == [
            "--type",
            "String",
            "--overwrite",
        ]
        ssm.put_parameter(
            Name=argv[argv.index("--name") + 1], Value=argv[argv.index("--value") + 1], Type="String",
            Overwrite=True,
        )  # fmt: skip
    isolated_settings("LOG_LEVEL", "info")  # (also clears the process's SSM cache)
    code, out, _ = run(capsys, "settings", "diff-legacy", "--ssm")
    assert code == 0
    assert out.splitlines() == [
        "Every setting whose old default is known has it.",
        "Old default not known, not compared: JOB_TABLE_NAME, KUBERNETES_NAMESPACE, SERVICE_ACCOUNT",
    ]


def test_diff_legacy_human_output_and_a_jobspec_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("NOTIFICATION_SUBJECT_TEMPLATE", OLD_SUBJECT)
    monkeypatch.delenv("NEPTUNE_PARALLELISM", raising=False)
    jobspec = tmp_path / "old.rdfoxjob.json"
    jobspec.write_text(json.dumps({"job_key": "DS", "neptune_configuration": {"parallelism": "LOW"}}))
    monkeypatch.setenv("JOBSPEC_ALLOWED_FIELDS", '{"neptune.parallelism": ["LOW"]}')
    code, out, err = run(capsys, "settings", "diff-legacy", "--jobspec", str(jobspec))
    assert code == 0, err
    assert "NOTIFICATION_SUBJECT_TEMPLATE" not in out  # the old template is set: no difference
    assert "NEPTUNE_PARALLELISM\n  now:      LOW (jobspec)\n  old:      OVERSUBSCRIBE\n" in out
    assert "a jobspec wins over SSM" in out or "wins over SSM" in out


@pytest.mark.parametrize("verb", ["show", "diff-legacy"])
def test_a_jobspec_override_the_run_would_refuse_is_refused(
    verb: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """What the settings would be for this jobspec: none, when the run refuses it (the trust boundary)."""
    monkeypatch.delenv("JOBSPEC_ALLOWED_FIELDS", raising=False)
    jobspec = tmp_path / "job.rdfoxjob.json"
    jobspec.write_text(json.dumps({"dataset": "DS", "kubernetes": {"namespace": "kube-system"}}))
    code, out, err = run(capsys, "settings", verb, "--jobspec", str(jobspec))
    assert code == 2 and out == ""
    assert "kubernetes.namespace: closed to jobspecs" in err and len(err.strip().splitlines()) == 1


def test_bad_input_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOTIFICATION_SUBJECT_TEMPLATE", "Job {job_id.__class__}")
    code, out, err = run(capsys, "settings", "show")
    assert code == 2 and out == ""
    assert err.startswith("rdfox-pipeline: error: environment: NOTIFICATION_SUBJECT_TEMPLATE: field")
    assert "attribute access" in err and len(err.splitlines()) == 1


def test_from_a_fresh_shell_against_the_local_ssm(
    aws_endpoint: str, isolated_settings, tmp_path: Path
) -> None:
    """As a user runs it: a new process, AWS from the environment only (no Airflow home, no connection)."""
    isolated_settings("BULKLOAD_TOPIC", "arn:aws:sns:eu-west-2:123456789012:bulkload")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS"))}
    env.update(
        HOME=str(tmp_path), AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-2", AWS_ENDPOINT_URL=aws_endpoint,
    )  # fmt: skip
    done = subprocess.run(
        [*CLI, "settings", "show", "--ssm"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert lines["BULKLOAD_TOPIC"] == ["ssm", "arn:aws:sns:eu-west-2:123456789012:bulkload"]
    assert lines["AWS_DEFAULT_REGION"] == ["environment", "eu-west-2"]
    assert lines["JOBSPEC_NAME"] == ["default", "rdfoxjob.json"]
