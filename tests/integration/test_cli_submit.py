"""`rdfox-pipeline submit`: the jobspec it builds, its one-line errors, and the upload to S3 (moto's server).

Triggering through the REST API against a real api-server is in tests/e2e/test_scheduler_e2e.py.
"""

from __future__ import annotations

import json

import boto3
import pytest
from rdfox_pipeline.cli.main import main

pytestmark = pytest.mark.usefixtures("cli_stdout_only")

BUCKET = "submit-input"


def test_dry_run_prints_the_validated_jobspec(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "submit", "--dataset", "FRAUD", "--name", "q3", "--cores", "8", "--memory", "32Gi",
            "--keep-endpoint", "--job-bucket", "in-b", "--output-bucket", "out-b", "--dry-run",
        ]
    )  # fmt: skip
    assert code == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["dataset"] == "FRAUD" and spec["name"] == "q3"
    assert spec["resources"]["cores"] == 8 and spec["resources"]["memory"] == "32Gi"
    assert spec["rdfox"]["keep_endpoint"] is True
    assert (spec["job_bucket"], spec["output_bucket"]) == ("in-b", "out-b")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--dataset", "BAD_NAME"], "dataset"),  # the job id delimiter may not appear in a dataset
        (["--dataset", "OK", "--cores", "0"], "cores"),
        (["--dataset", "OK", "--memory", "lots"], "memory"),
        (["--dataset", "OK", "--wait"], "--wait"),
    ],
)
def test_bad_options_give_one_line_errors(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["submit", *args, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err, err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--job-bucket", "someone-elses"], "job_bucket: closed to jobspecs"),
        (["--cores", "65"], "over the operator's cap JOBSPEC_MAX_CORES"),
    ],
)
@pytest.mark.parametrize("mode", ["--dry-run", "--trigger", "upload"])
def test_what_the_run_would_refuse_is_refused_before_anything_starts(
    args: list[str], named: str, mode: str, aws_endpoint: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("INPUT_BUCKET", BUCKET)
    # Port 9 (discard): had the trigger been sent, the error would be a refused connection instead.
    extra = {
        "--dry-run": ["--dry-run", "--ssm"],
        "--trigger": ["--trigger", "--ssm", "--airflow-url", "http://127.0.0.1:9"],
    }
    assert main(["submit", "--dataset", "OK", *args, *extra.get(mode, [])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the run would refuse this jobspec" in err and named in err, err


def test_without_the_deployments_settings_a_closed_field_is_left_to_the_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--dry-run without --ssm cannot know the deployment's buckets: the form is checked, not them."""
    monkeypatch.delenv("INPUT_BUCKET", raising=False)
    assert main(["submit", "--dataset", "OK", "--job-bucket", "the-deployments-bucket", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["job_bucket"] == "the-deployments-bucket"


def test_trigger_needs_an_http_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "--dataset", "OK", "--trigger", "--airflow-url", "ftp://x"]) == 2
    assert "--airflow-url" in capsys.readouterr().err


def test_upload_puts_the_jobspec_where_the_watcher_looks(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    # No SSM parameters: the settings come from the environment.
    monkeypatch.setenv("INPUT_BUCKET", BUCKET)
    assert main(["submit", "--dataset", "UPLOADED", "--name", "first", "--cores", "2"]) == 0
    out = capsys.readouterr().out.strip()
    key = "UPLOADED/first.rdfoxjob.json"
    assert out == f"uploaded s3://{BUCKET}/{key}"
    spec = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert spec["dataset"] == "UPLOADED" and spec["resources"]["cores"] == 2


def test_upload_to_a_missing_bucket_is_one_clear_line(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_BUCKET", "no-such-bucket-here")
    code = main(["submit", "--dataset", "X"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-bucket-here" in err and len(err.splitlines()) == 1
