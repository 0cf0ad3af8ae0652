"""Settings: every DESIGN setting with its default, strict parsing, precedence (pure, no AWS)."""

from __future__ import annotations

import dataclasses

import pytest
from rdfox_pipeline.domain.settings import (
    SETTINGS,
    Settings,
    SettingsError,
    check_overrides,
    resolve_settings,
)

DESIGN_SETTINGS = {
    "CLUSTER_NAME": None,
    "JOB_TABLE_NAME": "rdfox-pipeline-jobs",
    "JOBSPEC_NAME": "rdfoxjob.json",
    "RDFOXLOG_NAME": "rdfox.log",
    "AWS_DEFAULT_REGION": None,
    "JOB_ID_DELIMETER": "_",
    "BULKLOAD_TOPIC": None,
    "NEPTUNE_CLUSTER_ENDPOINT": None,
    "NEPTUNE_CLUSTER_ID": None,
    "NEPTUNE_IAM_ROLE_ARN": None,
    "NEPTUNE_SOURCE_FORMAT": "turtle",
    "NEPTUNE_UPDATE_SINGLE_CARDINALITY_PROPERTIES": True,
    "NEPTUNE_PARALLELISM": "HIGH",
    "NEPTUNE_QUEUE_REQUEST": True,
    "NEPTUNE_FAIL_ON_ERROR": False,
    "LOG_LEVEL": "info",
    "NEPTUNE_LOAD_MODE": "AUTO",
    "NEPTUNE_PARSER_CONFIGURATION": None,
    "IMAGE_REGISTRY_ALLOWLIST": [],
    # Fully qualified (issue 18): never a Docker Hub short name; the step images' registry never resolves.
    "PREPARE_IMAGE": "registry.invalid/rdfox-pipeline/prepare:0.1.0",
    "RDFOX_IMAGE": "docker.io/oxfordsemantic/rdfox:7.1.1",
    "PUBLISH_IMAGE": "registry.invalid/rdfox-pipeline/publish:0.1.0",
    "KUBERNETES_NAMESPACE": "rdfox",
    "SERVICE_ACCOUNT": "rdfox-pipeline",
    "RDFOX_LICENSE_SECRET": "rdfox-license",
    "RDFOX_PASSWORD_SECRET": "rdfox-password",
    "RDFOX_ENDPOINT_TTL_HOURS": 24,
    "INPUT_BUCKET": None,
    "OUTPUT_BUCKET": None,
    "NEPTUNE_LOAD_POLL_SECONDS": 30,
    "NEPTUNE_LOAD_TIMEOUT_HOURS": 48,
    "POD_STARTUP_TIMEOUT_SECONDS": 600,
    "RDFOX_PREFIXES": {
        "": "http://oxfordsemantic.tech/transactions/entities#",
        "prop": "http://oxfordsemantic.tech/transactions/properties#",
        "type": "http://oxfordsemantic.tech/transactions/classes#",
        "tt": "http://oxfordsemantic.tech/transactions/tupletables#",
    },
    "NOTIFICATION_SUBJECT_TEMPLATE": None,
    "POD_DATA_VOLUME_LIMIT": "20Gi",
    "POD_OUTPUT_VOLUME_LIMIT": "5Gi",
    "RDFOX_MAX_ENDPOINTS": 5,
    "RDFOX_ENDPOINT_CLIENT_NAMESPACE": None,
    "LOCAL_STACK": False,
    "JOBSPEC_ALLOWED_FIELDS": {},
    "JOBSPEC_MAX_CORES": 64,
    "JOBSPEC_MAX_MEMORY": "256Gi",
    "JOBSPEC_MAX_ENDPOINT_TTL_HOURS": 168,
    "JOBSPEC_MAX_POD_STARTUP_TIMEOUT_SECONDS": 3600,
}


def test_every_setting_has_its_default() -> None:
    assert resolve_settings().as_dict() == DESIGN_SETTINGS
    assert set(SETTINGS) == set(DESIGN_SETTINGS)
    assert {f.name for f in dataclasses.fields(Settings)} == {n.lower() for n in SETTINGS}


def test_resolve_is_pure_and_ignores_unrelated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert resolve_settings().log_level == "info"  # os.environ is not read
    assert resolve_settings(env={"PATH": "/bin", "LOG_LEVEL": "debug"}).log_level == "debug"


def test_precedence_overrides_ssm_env_default() -> None:
    env = {"NEPTUNE_PARALLELISM": "LOW", "LOG_LEVEL": "warning", "CLUSTER_NAME": "env-cluster"}
    ssm = {"NEPTUNE_PARALLELISM": "MEDIUM", "CLUSTER_NAME": "ssm-cluster"}
    got = resolve_settings({"NEPTUNE_PARALLELISM": "OVERSUBSCRIBE"}, ssm=ssm, env=env)
    assert got.neptune_parallelism == "OVERSUBSCRIBE"
    assert got.cluster_name == "ssm-cluster"
    assert got.log_level == "warning"
    assert got.job_table_name == "rdfox-pipeline-jobs"


def test_empty_values_fall_through() -> None:
    got = resolve_settings({"CLUSTER_NAME": None}, ssm={"CLUSTER_NAME": " "}, env={"CLUSTER_NAME": "env"})
    assert got.cluster_name == "env"


@pytest.mark.parametrize("text", ["true", "TRUE", "Yes", "1", " yes "])
def test_true_spellings(text: str) -> None:
    assert resolve_settings(env={"NEPTUNE_FAIL_ON_ERROR": text}).neptune_fail_on_error is True


@pytest.mark.parametrize("text", ["false", "False", "NO", "0"])
def test_false_spellings(text: str) -> None:
    assert resolve_settings(env={"NEPTUNE_QUEUE_REQUEST": text}).neptune_queue_request is False


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("NEPTUNE_QUEUE_REQUEST", "maybe", "expected a boolean"),
        ("NEPTUNE_QUEUE_REQUEST", "2", "expected a boolean"),
        ("NEPTUNE_FAIL_ON_ERROR", "on", "expected a boolean"),
        ("NEPTUNE_PARALLELISM", "MAXIMUM", "LOW, MEDIUM, HIGH, OVERSUBSCRIBE"),
        ("NEPTUNE_SOURCE_FORMAT", "json", "ntriples"),
        ("NEPTUNE_LOAD_MODE", "APPEND", "RESUME, NEW, AUTO"),
        ("LOG_LEVEL", "verbose", "debug"),
        ("NEPTUNE_LOAD_POLL_SECONDS", "1.5", "integer"),
        ("NEPTUNE_LOAD_POLL_SECONDS", "0", "between"),
        ("POD_STARTUP_TIMEOUT_SECONDS", "١٢", "integer"),  # non-ASCII digits
        ("NEPTUNE_PARSER_CONFIGURATION", "{", "not valid JSON"),
        ("NEPTUNE_PARSER_CONFIGURATION", "[]", "JSON object"),
        ("NEPTUNE_PARSER_CONFIGURATION", '{"baseUri": 1}', "baseUri"),
        ("JOB_ID_DELIMETER", "a", "punctuation"),
        ("JOB_ID_DELIMETER", "/", "punctuation"),
        ("KUBERNETES_NAMESPACE", "Rdfox", "DNS-1123"),
        ("RDFOX_LICENSE_SECRET", "lic_ense", "DNS-1123"),
        ("OUTPUT_BUCKET", "Out", "S3 bucket"),
        ("RDFOX_IMAGE", "no spaces allowed", "image reference"),
        ("NEPTUNE_IAM_ROLE_ARN", "arn:aws:iam::1:role/x", "IAM role ARN"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        resolve_settings(env={name: value})
    assert info.value.name == name
    assert str(info.value).startswith(f"{name}: ")
    assert fragment in str(info.value)


def test_typed_values_and_parsed_forms() -> None:
    got = resolve_settings(
        {"NEPTUNE_LOAD_POLL_SECONDS": 5, "NEPTUNE_FAIL_ON_ERROR": True},
        env={
            "NEPTUNE_PARSER_CONFIGURATION": '{"baseUri": "http://x/", "allowEmptyStrings": true}',
            "IMAGE_REGISTRY_ALLOWLIST": " registry.io/, docker.io/oxfordsemantic ,",
            "PREPARE_IMAGE": "registry.io/prepare:1",
            "PUBLISH_IMAGE": "registry.io/publish:1",
            "NEPTUNE_SOURCE_FORMAT": "NTriples",
            "NEPTUNE_IAM_ROLE_ARN": "arn:aws:iam::123456789012:role/A,arn:aws:iam::123456789012:role/B",
        },
    )
    assert got.neptune_load_poll_seconds == 5 and got.neptune_fail_on_error is True
    assert got.neptune_parser_configuration == {"baseUri": "http://x/", "allowEmptyStrings": True}
    assert got.image_registry_allowlist == ("registry.io/", "docker.io/oxfordsemantic")
    assert got.neptune_source_format == "ntriples"


def test_override_type_strictness() -> None:
    with pytest.raises(SettingsError, match="NEPTUNE_LOAD_POLL_SECONDS: expected an integer, got boolean"):
        resolve_settings({"NEPTUNE_LOAD_POLL_SECONDS": True})
    with pytest.raises(SettingsError, match="NEPTUNE_QUEUE_REQUEST: expected a boolean, got integer"):
        resolve_settings({"NEPTUNE_QUEUE_REQUEST": 1})
    with pytest.raises(SettingsError, match=r"^NOPE: not a known setting name"):
        resolve_settings({"NOPE": 1})


def test_default_images_must_pass_a_configured_allow_list() -> None:
    with pytest.raises(SettingsError, match=r"^PREPARE_IMAGE: .*not under an allowed registry"):
        resolve_settings(env={"IMAGE_REGISTRY_ALLOWLIST": "registry.io"})


def test_require_names_the_missing_setting() -> None:
    with pytest.raises(SettingsError, match=r"^CLUSTER_NAME: is not configured"):
        resolve_settings().require("CLUSTER_NAME")
    assert resolve_settings(env={"CLUSTER_NAME": "c"}).require("cluster_name") == "c"


def test_sources_say_which_layer_won() -> None:
    from rdfox_pipeline.domain.settings import resolve_settings_with_sources

    settings, sources = resolve_settings_with_sources(
        {"NEPTUNE_PARALLELISM": "LOW"},
        ssm={"NEPTUNE_PARALLELISM": "MEDIUM", "LOG_LEVEL": "error", "RDFOX_IMAGE": "  "},
        env={"LOG_LEVEL": "debug", "NEPTUNE_LOAD_POLL_SECONDS": "5", "RDFOX_IMAGE": "x/rdfox:7"},
    )
    assert settings == resolve_settings(
        {"NEPTUNE_PARALLELISM": "LOW"},
        ssm={"NEPTUNE_PARALLELISM": "MEDIUM", "LOG_LEVEL": "error", "RDFOX_IMAGE": "  "},
        env={"LOG_LEVEL": "debug", "NEPTUNE_LOAD_POLL_SECONDS": "5", "RDFOX_IMAGE": "x/rdfox:7"},
    )
    assert set(sources) == set(SETTINGS)
    assert sources["NEPTUNE_PARALLELISM"] == "jobspec" and settings.neptune_parallelism == "LOW"
    assert sources["LOG_LEVEL"] == "ssm" and settings.log_level == "error"
    assert sources["NEPTUNE_LOAD_POLL_SECONDS"] == "environment"
    assert sources["RDFOX_IMAGE"] == "environment"  # an empty SSM value is "not set"
    assert sources["JOBSPEC_NAME"] == "default"


OLD_SUBJECT = "Inference Result Notification for ID - {job_id} - JobStatus.{status}"


def test_subject_template_accepts_the_old_subject_and_is_not_per_job() -> None:
    settings = resolve_settings(env={"NOTIFICATION_SUBJECT_TEMPLATE": OLD_SUBJECT})
    assert settings.notification_subject_template == OLD_SUBJECT
    with pytest.raises(SettingsError, match="NOTIFICATION_SUBJECT_TEMPLATE: cannot be overridden per job"):
        check_overrides({"NOTIFICATION_SUBJECT_TEMPLATE": OLD_SUBJECT})


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("Job {job_id.__class__.__init__.__globals__}", "attribute access and indexing are not allowed"),
        ("Job {job_id[0]}", "attribute access and indexing are not allowed"),
        ("Job {secret}", "unknown field {secret}"),
        ("Job {}", "positional field {} is not allowed"),
        ("Job {0}", "positional field {0} is not allowed"),
        ("Job {job_id!r}", "conversions and format specs"),
        ("Job {job_id:>300}", "conversions and format specs"),
        ("Job {job_id", "not a valid template"),
        ("Job } done", "not a valid template"),
        ("Job\n{job_id}", "one line of printable ASCII"),
        ("Jöb {job_id}", "one line of printable ASCII"),
    ],
)
def test_subject_template_refuses_what_could_reach_internals(template: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve_settings(ssm={"NOTIFICATION_SUBJECT_TEMPLATE": template})
    assert caught.value.name == "NOTIFICATION_SUBJECT_TEMPLATE"
    assert problem in caught.value.problem
