"""The bad-jobspec corpus (tests/data/bad_jobspecs/): every case is refused with ONE line that names the
field, both by the domain core (`parse_jobspec`) and by the CLI (`rdfox-pipeline jobspec validate`,
exit status 2).

expected.json maps each file to the field path the error must start with and a substring of the problem; cases
with `allowed_registries` are validated with that image allow-list configured (IMAGE_REGISTRY_ALLOWLIST).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rdfox_pipeline.domain.jobspec import MAX_JOBSPEC_BYTES, JobSpecError, parse_jobspec

CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad_jobspecs"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())["cases"]
BAD_FILES = sorted(
    name for name, case in EXPECTED.items() if not case.get("valid_jobspec") and not case.get("generated")
)
CLI = str(Path(sys.executable).with_name("rdfox-pipeline"))


def _check_message(message: str, case: dict[str, Any]) -> None:
    assert "\n" not in message.strip(), f"not one line: {message!r}"
    assert "Traceback" not in message
    assert message.startswith(f"{case['path']}: "), f"does not name {case['path']!r}: {message!r}"
    assert case["contains"] in message, f"{case['contains']!r} not in {message!r}"
    # A hostile value must not come back raw: control/bidi/zero-width characters are escaped in messages.
    for char in ("\x00", "\u202e", "\u200b"):
        assert char not in message
    assert len(message) < 600, "an error line must stay short whatever the input size"


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "expected.json"}
    listed = {name for name, case in EXPECTED.items() if not case.get("generated")}
    assert on_disk == listed
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", BAD_FILES)
def test_parse_jobspec_names_the_field(name: str) -> None:
    case = EXPECTED[name]
    raw = (CORPUS / name).read_bytes()
    with pytest.raises(JobSpecError) as info:
        parse_jobspec(raw, allowed_registries=case.get("allowed_registries", ()))
    _check_message(str(info.value), case)
    assert info.value.path == case["path"]


@pytest.mark.parametrize("name", sorted(n for n in BAD_FILES if "allowed_registries" in EXPECTED[n]))
def test_images_pass_without_allow_list_but_not_with_it(name: str) -> None:
    """Allow-list cases are well-formed references: the allow-list, and only it, refuses them."""
    parse_jobspec((CORPUS / name).read_bytes())


def test_ten_megabyte_document_refused_before_parsing(tmp_path: Path) -> None:
    # Valid JSON of 10 MB (a huge string value): refused by size, not by exhausting memory in pydantic.
    big = tmp_path / "huge_10mb.json"
    payload = json.dumps({"dataset": "SAMPLE", "name": "x" * (10 * 2**20)})
    big.write_text(payload)
    assert big.stat().st_size > 10 * 2**20 > MAX_JOBSPEC_BYTES
    with pytest.raises(JobSpecError) as info:
        parse_jobspec(big.read_bytes())
    _check_message(str(info.value), EXPECTED["huge_10mb.json"])
    with pytest.raises(JobSpecError):
        parse_jobspec(payload)  # as str too (the UI/REST conf path)


def test_dataset_that_does_not_exist_is_a_valid_jobspec() -> None:
    """Its failure belongs to registration (empty input prefix), not to validation: see tests/faults."""
    spec = parse_jobspec((CORPUS / "dataset_does_not_exist.json").read_bytes())
    assert spec.dataset == "NOSUCHDATASET-7f3a9c"


# --- the CLI ---------------------------------------------------------------------------------------------
ECR = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/"


def _cli_env(case: dict[str, Any]) -> dict[str, str]:
    env = {k: val for k, val in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    env.pop("IMAGE_REGISTRY_ALLOWLIST", None)
    if case.get("allowed_registries"):
        env["IMAGE_REGISTRY_ALLOWLIST"] = ",".join(case["allowed_registries"])
        # The CLI checks the default images against the allow-list too: make them allowed ones.
        for setting in ("PREPARE_IMAGE", "RDFOX_IMAGE", "PUBLISH_IMAGE"):
            env[setting] = f"{ECR}rdfox-pipeline/{setting.split('_')[0].lower()}:0.1.0"
    return env


@pytest.mark.parametrize("name", BAD_FILES)
def test_cli_validate_exits_2_with_one_line(name: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from rdfox_pipeline.cli.main import main

    case = EXPECTED[name]
    monkeypatch.delenv("IMAGE_REGISTRY_ALLOWLIST", raising=False)
    args = ["jobspec", "validate", str(CORPUS / name)]
    for prefix in case.get("allowed_registries", ()):
        args += ["--allowed-registry", prefix]
    status = main(args)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert status == 2, err
    assert not captured.out.strip(), "nothing on stdout for an invalid jobspec"
    lines = err.splitlines()
    assert len(lines) == 1, err
    # The CLI prefixes "rdfox-pipeline: error: <file>: "; the field path must follow.
    assert f"{name}: {case['path']}: " in lines[0], lines[0]
    assert case["contains"] in lines[0]


@pytest.mark.parametrize("name", ["empty.json", "invalid_utf8.json", "image_disallowed_registry.json"])
def test_cli_validate_as_a_process(name: str) -> None:
    """The console script itself, allow-list from the environment: exit 2, one line, no traceback."""
    case = EXPECTED[name]
    proc = subprocess.run(
        [CLI, "jobspec", "validate", str(CORPUS / name)],
        capture_output=True,
        text=True,
        env=_cli_env(case),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"{case['path']}: " in proc.stderr and case["contains"] in proc.stderr


def test_cli_validate_ten_megabytes(tmp_path: Path) -> None:
    big = tmp_path / "huge.rdfoxjob.json"
    big.write_text(json.dumps({"dataset": "SAMPLE", "name": "x" * (10 * 2**20)}))
    proc = subprocess.run(
        [CLI, "jobspec", "validate", str(big)], capture_output=True, text=True, env=_cli_env({}), timeout=60
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "MB" in proc.stderr or "bytes" in proc.stderr, proc.stderr
