"""The old job-submitter's flat jobspec: every key it wrote is accepted with its old meaning, and what the new
pipeline does differently is said in notes (which reach the job record and the task log)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rdfox_pipeline.domain.jobspec import JobSpecError, parse_jobspec, parse_jobspec_with_notes
from rdfox_pipeline.domain.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
LEGACY_SAMPLE = REPO / "include" / "samples" / "legacy-submitter.rdfoxjob.json"

BASE = {"job_key": "DATASET", "job_bucket": "in-bucket", "output_bucket": "out-bucket", "auto_shutdown": True}


def notes_of(raw: dict, **kwargs: object) -> tuple[str, ...]:
    return parse_jobspec_with_notes(raw, **kwargs).notes  # type: ignore[arg-type]


def note_for(notes: tuple[str, ...], key: str) -> str:
    found = [n for n in notes if n.startswith(key + ":")]
    assert len(found) == 1, notes
    assert "\n" not in found[0]
    return found[0]


def error_of(raw: dict, **kwargs: object) -> JobSpecError:
    with pytest.raises(JobSpecError) as info:
        parse_jobspec(raw, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- images -------------------------------------------------------------------------------------------------
def test_rdfox_init_container_image_is_accepted_and_noted() -> None:
    parsed = parse_jobspec_with_notes({**BASE, "rdfox_init_container_image": "old.example.com/rdfox-init:2"})
    assert parsed.spec.images == parse_jobspec(BASE).images  # nothing of it reaches the pod
    note = note_for(parsed.notes, "rdfox_init_container_image")
    assert "old.example.com/rdfox-init:2" in note and "not used" in note
    assert error_of({**BASE, "rdfox_init_container_image": "no spaces allowed"}).path == (
        "rdfox_init_container_image"
    )


@pytest.mark.parametrize(
    ("key", "setting"),
    [("init_container_image", "PREPARE_IMAGE"), ("publisher_container_image", "PUBLISH_IMAGE")],
)
def test_old_step_images_are_replaced_by_the_pipeline_step_images(key: str, setting: str) -> None:
    # The old images cannot run the new prepare/publish steps: the pipeline's own images run instead, even
    # where the registry allow-list would not allow the old one (it never runs).
    parsed = parse_jobspec_with_notes(
        {**BASE, key: "legacy.example.com/old-step:1.4"}, allowed_registries=["registry.example.com"]
    )
    assert parsed.spec.images.prepare is None and parsed.spec.images.publish is None
    note = note_for(parsed.notes, key)
    assert "legacy.example.com/old-step:1.4" in note and setting in note


def test_rdfox_container_image_is_used_where_the_allow_list_allows_it() -> None:
    allowed = ["docker.io/oxfordsemantic/"]
    spec = parse_jobspec(
        {**BASE, "rdfox_container_image": "oxfordsemantic/rdfox:7.1.1"}, allowed_registries=allowed
    )
    assert spec.images.rdfox == "oxfordsemantic/rdfox:7.1.1"
    err = error_of({**BASE, "rdfox_container_image": "evil.io/rdfox:7"}, allowed_registries=allowed)
    assert err.path == "rdfox_container_image" and "allowed registry" in err.problem


# --- job_id -------------------------------------------------------------------------------------------------
def test_job_id_is_accepted_recorded_in_a_note_and_never_used_as_the_id() -> None:
    parsed = parse_jobspec_with_notes({**BASE, "job_id": "DATASET_2021-08-01_007"})
    note = note_for(parsed.notes, "job_id")
    assert "DATASET_2021-08-01_007" in note and "allocate" in note
    assert "job_id" not in json.dumps(parsed.spec.to_json_dict())  # the pipeline's own id is the only id


@pytest.mark.parametrize("bad", ["", "x" * 201, "a\nb", 7])
def test_job_id_must_be_a_printable_string(bad: object) -> None:
    assert error_of({**BASE, "job_id": bad}).path == "job_id"


# --- requested_memory ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "quantity"),
    [
        (10 * 2**30, "10Gi"),
        (3 * 2**29, "1536Mi"),
        (2**28, "256Mi"),
        (300_000_001, "300000001"),
        ("4Gi", "4Gi"),
    ],
)
def test_integer_requested_memory_is_bytes_and_becomes_a_quantity(given: object, quantity: str) -> None:
    assert parse_jobspec({**BASE, "requested_memory": given}).resources.memory == quantity


@pytest.mark.parametrize("bad", [10, 2**28 - 1, 0, -5])
def test_integer_requested_memory_under_256mi_is_refused(bad: int) -> None:
    err = error_of({**BASE, "requested_memory": bad})
    assert err.path == "requested_memory" and "256Mi" in err.problem


@pytest.mark.parametrize("bad", [True, 1.5, None, [1]])
def test_requested_memory_of_another_type_is_refused(bad: object) -> None:
    err = error_of({**BASE, "requested_memory": bad})
    assert err.path == "requested_memory" and "quantity" in err.problem


# --- auto_shutdown ------------------------------------------------------------------------------------------
def test_absent_auto_shutdown_keeps_the_endpoint_bounded_by_the_ttl() -> None:
    old = {k: v for k, v in BASE.items() if k != "auto_shutdown"}
    parsed = parse_jobspec_with_notes(old, endpoint_ttl_hours=6)
    assert parsed.spec.rdfox.keep_endpoint is True
    note = note_for(parsed.notes, "auto_shutdown")
    assert "absent" in note and "6 h" in note and "RDFOX_ENDPOINT_TTL_HOURS" in note
    explicit = parse_jobspec_with_notes({**old, "auto_shutdown": False})
    assert explicit.spec.rdfox.keep_endpoint is True and "absent" not in note_for(
        explicit.notes, "auto_shutdown"
    )
    shut = parse_jobspec_with_notes({**old, "auto_shutdown": True})
    assert shut.spec.rdfox.keep_endpoint is False and not shut.notes


# --- neptune_configuration ----------------------------------------------------------------------------------
SNAKE = {
    "cluster_endpoint": "https://db.cluster-abc.eu-west-2.neptune.amazonaws.com:8182",
    "iam_role_arn": "arn:aws:iam::123456789012:role/NeptuneLoadFromS3",
    "source_format": "ntriples",
    "parallelism": "MEDIUM",
    "fail_on_error": True,
    "queue_request": False,
    "update_single_cardinality_properties": False,
    "mode": "new",
    "parser_configuration": {"baseUri": "http://example.com/"},
    "region": "eu-west-2",
}


def test_snake_case_neptune_configuration_maps_to_loader_settings() -> None:
    spec = parse_jobspec({**BASE, "neptune_configuration": SNAKE}, aws_region="eu-west-2")
    assert spec.setting_overrides() == {
        "INPUT_BUCKET": "in-bucket",
        "OUTPUT_BUCKET": "out-bucket",
        "NEPTUNE_CLUSTER_ENDPOINT": "https://db.cluster-abc.eu-west-2.neptune.amazonaws.com:8182",
        "NEPTUNE_IAM_ROLE_ARN": SNAKE["iam_role_arn"],
        "NEPTUNE_SOURCE_FORMAT": "ntriples",
        "NEPTUNE_PARALLELISM": "MEDIUM",
        "NEPTUNE_FAIL_ON_ERROR": True,
        "NEPTUNE_QUEUE_REQUEST": False,
        "NEPTUNE_UPDATE_SINGLE_CARDINALITY_PROPERTIES": False,
        "NEPTUNE_LOAD_MODE": "NEW",
        "NEPTUNE_PARSER_CONFIGURATION": {"baseUri": "http://example.com/"},
    }
    # The normalised form carries the endpoint and round-trips.
    assert parse_jobspec(json.dumps(spec.to_json_dict())) == spec


def test_camel_case_neptune_configuration_still_maps() -> None:
    camel = {
        "format": "nquads",
        "queueRequest": True,
        "failOnError": False,
        "iamRoleArn": SNAKE["iam_role_arn"],
    }
    overrides = parse_jobspec({**BASE, "neptune_configuration": camel}).setting_overrides()
    assert overrides["NEPTUNE_SOURCE_FORMAT"] == "nquads" and overrides["NEPTUNE_QUEUE_REQUEST"] is True


@pytest.mark.parametrize(
    ("camel", "snake"),
    [
        ("format", "source_format"),
        ("queueRequest", "queue_request"),
        ("failOnError", "fail_on_error"),
        ("updateSingleCardinalityProperties", "update_single_cardinality_properties"),
        ("parserConfiguration", "parser_configuration"),
        ("iamRoleArn", "iam_role_arn"),
        ("clusterEndpoint", "cluster_endpoint"),
    ],
)
def test_mixing_both_spellings_of_one_parameter_names_both(camel: str, snake: str) -> None:
    value = SNAKE[snake] if snake != "source_format" else "turtle"
    err = error_of({**BASE, "neptune_configuration": {camel: value, snake: value}})
    assert camel in str(err) and snake in str(err)
    assert err.path.startswith("neptune_configuration.")


@pytest.mark.parametrize(
    "bad",
    [
        "http://db.example.com:8182",  # not https
        "https://user:pw@db.example.com",  # credentials
        "https://db.example.com:8182/loader",  # a path
        "https://db.example.com:99999",  # port
        "https://",
        "db example.com",
        "https://db.example.com?x=1",
    ],
)
def test_cluster_endpoint_must_be_https_host_and_port_only(bad: str) -> None:
    err = error_of({**BASE, "neptune_configuration": {"cluster_endpoint": bad}})
    assert err.path == "neptune_configuration.cluster_endpoint"
    assert "pw" not in str(err)  # credentials are never echoed


@pytest.mark.parametrize("good", ["db.example.com", "db.example.com:8182", "https://db.example.com"])
def test_cluster_endpoint_forms(good: str) -> None:
    spec = parse_jobspec({**BASE, "neptune_configuration": {"cluster_endpoint": good}})
    assert spec.setting_overrides()["NEPTUNE_CLUSTER_ENDPOINT"] == good


def test_region_must_be_the_pipeline_region() -> None:
    same = parse_jobspec_with_notes(
        {**BASE, "neptune_configuration": {"region": "eu-west-2"}}, aws_region="eu-west-2"
    )
    assert "eu-west-2" in note_for(same.notes, "neptune_configuration.region")
    err = error_of({**BASE, "neptune_configuration": {"region": "us-east-1"}}, aws_region="eu-west-2")
    assert err.path == "neptune_configuration.region" and "eu-west-2" in err.problem
    assert (
        error_of({**BASE, "neptune_configuration": {"region": "Europe"}}).path
        == "neptune_configuration.region"
    )


def test_new_form_cannot_set_the_cluster_endpoint_through_raw_settings() -> None:
    # Only the validated field may override it per job.
    err = error_of({"dataset": "D", "settings": {"NEPTUNE_CLUSTER_ENDPOINT": "evil.example.com"}})
    assert err.path == "settings.NEPTUNE_CLUSTER_ENDPOINT"


def test_unknown_keys_are_still_errors_naming_the_key() -> None:
    assert error_of({**BASE, "requested_gpus": 1}).path == "requested_gpus"
    assert (
        error_of({**BASE, "neptune_configuration": {"source": "s3://x"}}).path
        == "neptune_configuration.source"
    )


# --- the old job-submitter's template -----------------------------------------------------------------------
SUBMITTER_KEYS = {
    "requested_cores", "requested_memory", "init_container_image", "publisher_container_image",
    "rdfox_container_image", "rdfox_init_container_image", "parallelism", "job_bucket", "job_key",
    "output_bucket",
}  # fmt: skip


def test_the_legacy_submitter_sample_has_every_key_it_wrote_and_validates() -> None:
    raw = json.loads(LEGACY_SAMPLE.read_text())
    assert SUBMITTER_KEYS | {"auto_shutdown"} == set(raw)
    assert raw["auto_shutdown"] is False  # the submitter's default: the endpoint stays up
    assert raw["job_key"] == "SAMPLE"
    parsed = parse_jobspec_with_notes(LEGACY_SAMPLE.read_bytes(), endpoint_ttl_hours=24)
    assert parsed.spec.rdfox.keep_endpoint is True
    keys = {n.split(":", 1)[0] for n in parsed.notes}
    assert {
        "init_container_image",
        "publisher_container_image",
        "rdfox_init_container_image",
        "auto_shutdown",
    } <= keys


# --- the CLI, as a user runs it -----------------------------------------------------------------------------
SCRIPT = str(Path(sys.executable).with_name("rdfox-pipeline"))
STEP_IMAGES = {
    "PREPARE_IMAGE": "rdfox-pipeline/prepare:0.1.0",
    "PUBLISH_IMAGE": "rdfox-pipeline/publish:0.1.0",
}
# The deployment the old submitter's jobspec was written for: its buckets are the operator's settings.
SAMPLE_BUCKETS = {"INPUT_BUCKET": "rdfox-pipeline-input", "OUTPUT_BUCKET": "rdfox-pipeline-output"}


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SETTINGS}  # only the settings given here
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=120, env={**base, **env}, check=False
    )


def test_cli_validate_prints_the_notes_on_stderr() -> None:
    done = run_cli(
        "jobspec", "validate", str(LEGACY_SAMPLE), RDFOX_ENDPOINT_TTL_HOURS="6", LOCAL_STACK="true",
        **SAMPLE_BUCKETS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    spec = json.loads(done.stdout)  # stdout stays the normalised document
    # The old key repeats the operator's RDFOX_IMAGE (Docker Hub's short name of it): the operator's runs.
    assert spec["images"] == {
        "prepare": None,
        "rdfox": "docker.io/oxfordsemantic/rdfox:7.1.1",
        "publish": None,
    }
    notes = done.stderr.splitlines()
    assert all(line.startswith("note: ") for line in notes)
    assert any(line.startswith("note: auto_shutdown: false") and "6 h" in line for line in notes)


def test_cli_validate_refuses_an_rdfox_image_the_policy_does_not_allow() -> None:
    done = run_cli(
        "jobspec",
        "validate",
        str(LEGACY_SAMPLE),
        IMAGE_REGISTRY_ALLOWLIST="rdfox-pipeline/,example.org/",
        RDFOX_IMAGE="example.org/rdfox:7.1.1",
        **STEP_IMAGES,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert (
        "rdfox_container_image: image 'oxfordsemantic/rdfox:7.1.1' is not under an allowed registry"
        in done.stderr
    )


def test_cli_pod_render_uses_the_pipeline_step_images_and_the_allowed_rdfox_image() -> None:
    allow = "rdfox-pipeline/,docker.io/oxfordsemantic/"
    done = run_cli(
        "pod", "render", str(LEGACY_SAMPLE), "--job-id", "SAMPLE_2021-08-01_000",
        IMAGE_REGISTRY_ALLOWLIST=allow, AWS_DEFAULT_REGION="eu-west-2", **STEP_IMAGES, **SAMPLE_BUCKETS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pod = yaml.safe_load(done.stdout)
    images = {c["name"]: c["image"] for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]}
    assert images == {
        "prepare": STEP_IMAGES["PREPARE_IMAGE"],
        "rdfox": "docker.io/oxfordsemantic/rdfox:7.1.1",  # the operator's RDFOX_IMAGE, the old key names it
        "base": STEP_IMAGES["PUBLISH_IMAGE"],
    }
    assert "legacy-registry" not in done.stdout
    rdfox = next(c for c in pod["spec"]["initContainers"] if c["name"] == "rdfox")
    limits = rdfox["resources"]["limits"]
    assert {k: limits[k] for k in ("cpu", "memory")} == {"cpu": "2", "memory": "4Gi"}
    assert limits["ephemeral-storage"]  # every container's disk is bounded (issue 18)
    assert "note: init_container_image:" in done.stderr


def test_local_demo_takes_a_jobspec_file_whose_buckets_are_the_stacks(tmp_path: Path) -> None:
    from rdfox_local.stack.demo import jobspec_file_for_demo
    from rdfox_local.stack.stack import StackError

    stack = {"input_bucket": "rdfox-pipeline-input", "output_bucket": "rdfox-pipeline-output"}
    raw, dataset = jobspec_file_for_demo(LEGACY_SAMPLE, stack)
    assert raw == LEGACY_SAMPLE.read_bytes() and dataset == "SAMPLE"  # uploaded unchanged
    other = tmp_path / "other.rdfoxjob.json"
    other.write_text(json.dumps({**json.loads(raw), "output_bucket": "elsewhere"}))
    with pytest.raises(StackError, match="output_bucket is 'elsewhere'"):
        jobspec_file_for_demo(other, stack)
    done = run_cli("local", "demo", "--jobspec", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "--jobspec" in done.stderr and "not a file" in done.stderr
