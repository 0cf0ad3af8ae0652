"""`rdfox-pipeline jobspec validate` and `rdfox-pipeline log parse`: the installed console script, run as a
user runs it (JSON on stdout and exit 0, or one error line on stderr and exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rdfox_pipeline.cli.main import main

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
SCRIPT = str(Path(sys.executable).with_name("rdfox-pipeline"))


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120, env=env)


def test_log_parse_reference_run(reference_dir: Path) -> None:
    done = run_script("log", "parse", str(reference_dir / "rdfox-5-reference-run.log"))
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert (stats["time_to_load"], stats["time_to_infer"], stats["time_query"], stats["time_total"]) == (
        254, 1621, 4355, 1875,
    )  # fmt: skip
    assert stats["triples_input_amount"] == 510506725 and stats["triples_total_amount"] == 787421291
    assert stats["triples_avg_size"] == 101.891
    assert stats["counts"] == {"partialChainCount": 1337, "fullChainCount": 2667}


@pytest.mark.parametrize(
    ("name", "fragment"), [("rdfox7-truncated.log", "truncated"), ("rdfox7-error.log", "error at line 7")]
)
def test_log_parse_failures(name: str, fragment: str) -> None:
    done = run_script("log", "parse", str(LOGS / name))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in done.stderr


def test_jobspec_validate_prints_normalised_json(tmp_path: Path) -> None:
    spec = tmp_path / "nightly.rdfoxjob.json"
    spec.write_text(
        json.dumps({"job_key": "DS", "requested_cores": 2, "requested_memory": "4Gi", "parallelism": 1})
    )
    done = run_script("jobspec", "validate", str(spec))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["dataset"] == "DS" and out["resources"] == {"cores": 2, "memory": "4Gi"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"job_key": "DS", "requested_cores": "4"}', "requested_cores: expected an integer, got string"),
        (b"{not json", "jobspec: not valid JSON"),
        (b"\xff\xfe", "jobspec: not valid UTF-8"),
        (b"", "jobspec: empty document"),
    ],
)
def test_jobspec_validate_errors(
    tmp_path: Path, content: bytes, fragment: str, capsys: pytest.CaptureFixture
) -> None:
    spec = tmp_path / "bad.json"
    spec.write_bytes(content)
    assert main(["jobspec", "validate", str(spec)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and fragment in captured.err and str(spec) in captured.err


def test_jobspec_validate_missing_file_and_allow_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["jobspec", "validate", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"dataset": "DS", "images": {"rdfox": "evil.io/rdfox:7"}}))
    assert main(["jobspec", "validate", str(spec), "--allowed-registry", "registry.io"]) == 2
    assert "images.rdfox: image 'evil.io/rdfox:7' is not under an allowed registry" in capsys.readouterr().err
    # Within every registry, the image is still a closed field: the operator's RDFOX_IMAGE decides it.
    assert main(["jobspec", "validate", str(spec)]) == 2
    assert "images.rdfox: closed to jobspecs" in capsys.readouterr().err


def test_jobspec_validate_reads_allow_list_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"dataset": "DS", "images": {"rdfox": "registry.io/rdfox:7"}}))
    monkeypatch.setenv("IMAGE_REGISTRY_ALLOWLIST", "registry.io")
    monkeypatch.setenv("PREPARE_IMAGE", "registry.io/p:1")
    monkeypatch.setenv("RDFOX_IMAGE", "registry.io/r:1")
    monkeypatch.setenv("PUBLISH_IMAGE", "registry.io/u:1")
    monkeypatch.setenv("JOBSPEC_ALLOWED_FIELDS", '{"images.rdfox": ["registry.io/rdfox:7"]}')
    assert main(["jobspec", "validate", str(spec)]) == 0
    monkeypatch.setenv("NEPTUNE_QUEUE_REQUEST", "perhaps")
    assert main(["jobspec", "validate", str(spec)]) == 2
    assert "environment: NEPTUNE_QUEUE_REQUEST" in capsys.readouterr().err
