"""JobSpec: the old flat form unchanged, the new nested form, and one precise error per bad field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdfox_pipeline.domain.jobspec import OLD_FORM_KEYS, JobSpec, JobSpecError, parse_jobspec

OLD = {
    "requested_cores": 4,
    "requested_memory": "10Gi",
    "init_container_image": "registry.example.com/rdfox-pipeline/prepare:0.1.0",
    "publisher_container_image": "registry.example.com/rdfox-pipeline/publish:0.1.0",
    "rdfox_container_image": "oxfordsemantic/rdfox:7.1.1",
    "rdfox_init_container_image": "registry.example.com/rdfox-pipeline/rdfox-init:0.1.0",
    "job_id": "DATASET_2021-08-01_000",
    "auto_shutdown": True,
    "parallelism": 1,
    "job_bucket": "in-bucket",
    "job_key": "DATASET",
    "output_bucket": "out-bucket",
    "namespace": "rdfox",
    "service_account": "rdfox-runner",
    "license_secret_name": "rdfox-license",
    "rdfox_password_secret": "rdfox-password",
    "rdfox_port": 12110,
    "restart_policy": "Never",
    "neptune_configuration": {
        "format": "turtle",
        "parallelism": "HIGH",
        "queueRequest": True,
        "failOnError": False,
        "updateSingleCardinalityProperties": True,
        "mode": "AUTO",
        "parserConfiguration": {"baseUri": "http://example.com/", "namedGraphUri": "http://example.com/g"},
        "iamRoleArn": "arn:aws:iam::123456789012:role/NeptuneLoadFromS3",
    },
}


def error_of(raw: object, **kwargs: object) -> JobSpecError:
    with pytest.raises(JobSpecError) as info:
        parse_jobspec(raw, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    return info.value


def test_old_form_with_every_key_is_accepted_and_converted() -> None:
    spec = parse_jobspec(OLD)
    assert spec.dataset == "DATASET"
    assert spec.job_bucket == "in-bucket" and spec.output_bucket == "out-bucket"
    assert (spec.resources.cores, spec.resources.memory) == (4, "10Gi")
    # The old step images cannot run the new steps: the pipeline's own (settings) run instead.
    assert spec.images.prepare is None and spec.images.publish is None
    assert spec.images.rdfox == OLD["rdfox_container_image"]
    assert spec.rdfox.keep_endpoint is False  # auto_shutdown true
    assert spec.rdfox.password_secret_name == "rdfox-password"
    assert spec.kubernetes.service_account == "rdfox-runner"
    assert spec.neptune.queue_request is True and spec.neptune.parallelism == "HIGH"
    assert spec.neptune.iam_role_arn == "arn:aws:iam::123456789012:role/NeptuneLoadFromS3"
    assert set(OLD) - {"job_bucket", "output_bucket"} == set(OLD_FORM_KEYS)


def test_design_example_old_form_is_accepted_as_json_bytes() -> None:
    # DESIGN.md's example, with real bucket names: its placeholders "in"/"out" are shorter than S3 allows.
    raw = (
        b'{"requested_cores": 4, "requested_memory": "10Gi", "init_container_image": "a/prepare:1",'
        b' "publisher_container_image": "a/publish:1", "rdfox_container_image": "oxfordsemantic/rdfox:7.1.1",'
        b' "auto_shutdown": false, "parallelism": 1, "job_bucket": "in-b", "job_key": "DATASET",'
        b' "output_bucket": "out"}'
    )
    spec = parse_jobspec(raw)
    assert spec.rdfox.keep_endpoint is True
    assert error_of(raw.replace(b'"in-b"', b'"in"')).path == "job_bucket"


def test_new_form_defaults_and_round_trip() -> None:
    spec = parse_jobspec({"dataset": "DS-1.a"})
    assert spec.resources.cores > 0 and spec.kubernetes.restart_policy == "Never"
    assert spec.images.rdfox is None  # the RDFOX_IMAGE setting applies
    assert parse_jobspec(json.dumps(spec.to_json_dict())) == spec


def test_setting_overrides_map_fields_to_setting_names() -> None:
    spec = parse_jobspec(
        {"dataset": "DS", "neptune": {"mode": "new"}, "settings": {"NEPTUNE_LOAD_POLL_SECONDS": "5"}}
    )
    assert spec.setting_overrides() == {"NEPTUNE_LOAD_MODE": "NEW", "NEPTUNE_LOAD_POLL_SECONDS": 5}
    assert parse_jobspec(OLD).setting_overrides()["RDFOX_PASSWORD_SECRET"] == "rdfox-password"


@pytest.mark.parametrize(
    ("patch", "path", "fragment"),
    [
        ({"requested_cores": "4"}, "requested_cores", "expected an integer, got string"),
        ({"requested_cores": True}, "requested_cores", "expected an integer, got boolean"),
        ({"requested_cores": 0}, "requested_cores", "positive"),
        ({"requested_cores": 513}, "requested_cores", "absurd"),
        ({"requested_memory": "10GB"}, "requested_memory", "Kubernetes quantity"),
        ({"requested_memory": "65Ti"}, "requested_memory", "64Ti"),
        ({"requested_memory": 1024}, "requested_memory", "at least 256Mi"),
        ({"requested_memory": 1.5}, "requested_memory", "got number"),
        ({"job_key": ""}, "job_key", "empty"),
        ({"job_key": "A_B"}, "job_key", "delimiter"),
        ({"job_key": "a/b"}, "job_key", "'/'"),
        ({"job_key": "a..b"}, "job_key", "'..'"),
        ({"job_key": "a\x07b"}, "job_key", "control"),
        ({"job_key": "D\u0410TASET"}, "job_key", "ASCII"),  # Cyrillic A lookalike
        ({"job_bucket": "In_Bucket"}, "job_bucket", "S3 bucket"),
        ({"output_bucket": "192.168.1.1"}, "output_bucket", "IP address"),
        ({"output_bucket": "ab"}, "output_bucket", "3-63"),
        ({"output_bucket": "xn--bucket"}, "output_bucket", "xn--"),
        ({"parallelism": 2}, "parallelism", "only 1 pod"),
        ({"auto_shutdown": "yes"}, "auto_shutdown", "true or false"),
        ({"license_secret_name": "Bad_Name"}, "license_secret_name", "DNS-1123"),
        ({"rdfox_password_secret": "-x"}, "rdfox_password_secret", "DNS-1123"),
        ({"namespace": "a.b"}, "namespace", "DNS-1123 label"),
        ({"rdfox_port": 70000}, "rdfox_port", "65535"),
        ({"restart_policy": "Always"}, "restart_policy", "Never, OnFailure"),
        ({"rdfox_container_image": "not an image"}, "rdfox_container_image", "image reference"),
        ({"neptune_configuration": {"format": "json"}}, "neptune_configuration.format", "turtle"),
        (
            {"neptune_configuration": {"parallelism": "MAX"}},
            "neptune_configuration.parallelism",
            "OVERSUBSCRIBE",
        ),
        ({"neptune_configuration": {"mode": "APPEND"}}, "neptune_configuration.mode", "RESUME"),
        ({"neptune_configuration": {"source": "s3://x"}}, "neptune_configuration.source", "unknown key"),
        (
            {"neptune_configuration": {"queueRequest": "TRUE"}},
            "neptune_configuration.queueRequest",
            "true or",
        ),
        ({"neptune_configuration": {"iamRoleArn": "role"}}, "neptune_configuration.iamRoleArn", "IAM role"),
        (
            {"neptune_configuration": {"parserConfiguration": {"base": "x"}}},
            "neptune_configuration.parserConfiguration",
            "baseUri",
        ),
        ({"requested_gpus": 1}, "requested_gpus", "unknown key"),
    ],
)
def test_old_form_errors_name_the_old_key(patch: dict, path: str, fragment: str) -> None:
    err = error_of({**OLD, **patch})
    assert err.path == path
    assert fragment in err.problem


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        ({}, "dataset", "required"),
        ({"dataset": "x", "resources": {"cores": 1.5}}, "resources.cores", "integer"),
        ({"dataset": "x", "resources": []}, "resources", "expected an object"),
        ({"dataset": "x", "resources": {"gpus": 1}}, "resources.gpus", "allowed: cores, memory"),
        ({"dataset": "x", "rdfox": {"keep_endpoint": 1}}, "rdfox.keep_endpoint", "true or false"),
        ({"dataset": "x", "rdfox": {"endpoint_ttl_hours": 0}}, "rdfox.endpoint_ttl_hours", "between"),
        ({"dataset": "x", "name": "../etc"}, "name", "jobspec name"),
        ({"dataset": "x", "settings": {"NOPE": 1}}, "settings.NOPE", "not a known setting"),
        (
            {"dataset": "x", "settings": {"NEPTUNE_QUEUE_REQUEST": "maybe"}},
            "settings.NEPTUNE_QUEUE_REQUEST",
            "boolean",
        ),
        (
            {"dataset": "x", "settings": {"IMAGE_REGISTRY_ALLOWLIST": ""}},
            "settings.IMAGE_REGISTRY_ALLOWLIST",
            "per job",
        ),
        ({"dataset": "x", "settings": {"JOB_ID_DELIMETER": "-"}}, "settings.JOB_ID_DELIMETER", "per job"),
        (
            {"dataset": "x", "neptune": {"mode": "NEW"}, "settings": {"NEPTUNE_LOAD_MODE": "AUTO"}},
            "settings.NEPTUNE_LOAD_MODE",
            "conflicts with neptune.mode",
        ),
        ({"dataset": "x", "job_key": "x"}, "dataset", "cannot be mixed"),
        ({"job_key": "x", "resources": {}}, "resources", "cannot be mixed"),
    ],
)
def test_new_form_errors(spec: dict, path: str, fragment: str) -> None:
    err = error_of(spec)
    assert err.path == path
    assert fragment in err.problem
    assert str(err) == f"{path}: {err.problem}"


def test_registry_allow_list() -> None:
    allowed = ["registry.example.com", "docker.io/oxfordsemantic/"]
    assert parse_jobspec(OLD, allowed_registries=allowed).images.rdfox == "oxfordsemantic/rdfox:7.1.1"
    err = error_of(
        {**OLD, "rdfox_container_image": "registry.example.com.evil.io/x:1"}, allowed_registries=allowed
    )
    assert err.path == "rdfox_container_image" and "allowed registry" in err.problem
    # An old step image is recorded, never run: the allow-list does not apply to it.
    assert (
        parse_jobspec(
            {**OLD, "init_container_image": "registry.example.com.evil.io/x:1"}, allowed_registries=allowed
        ).images.prepare
        is None
    )
    err = error_of(
        {"dataset": "x", "settings": {"RDFOX_IMAGE": "evil.io/rdfox:7"}}, allowed_registries=allowed
    )
    assert err.path == "settings.RDFOX_IMAGE"
    assert parse_jobspec(
        {"dataset": "x", "images": {"rdfox": "evil.io/r:1"}}
    ).images.rdfox  # no list: allowed


def test_delimiter_is_configurable() -> None:
    assert parse_jobspec({"dataset": "A_B"}, delimiter="~").dataset == "A_B"
    assert error_of({"dataset": "A~B"}, delimiter="~").path == "dataset"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"", "empty document"),
        ("   \n", "empty document"),
        ("[1, 2]", "expected a JSON object, got array"),
        ('"text"', "expected a JSON object, got string"),
        ("{", "not valid JSON (line 1"),
        ('{"dataset": NaN}', "NaN is not allowed"),
        (b'{"dataset": "x"' + b" " * 1_000_000 + b"}", "1 MB"),
    ],
)
def test_raw_document_problems(raw: bytes | str, fragment: str) -> None:
    err = error_of(raw)
    assert err.path == "jobspec"
    assert fragment in err.problem


def test_duplicate_keys_and_bom() -> None:
    assert error_of('{"dataset": "a", "dataset": "b"}').problem == "duplicate key"
    assert parse_jobspec('\ufeff{"dataset": "a"}'.encode()).dataset == "a"


# --- properties ------------------------------------------------------------------------------------------
datasets = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,30}", fullmatch=True).filter(lambda s: ".." not in s)
buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True).filter(
    lambda s: not s.startswith(("xn--", "sthree-")) and not s.endswith("-s3alias")
)
old_specs = st.fixed_dictionaries(
    {"job_key": datasets},
    optional={
        "requested_cores": st.integers(1, 512),
        "requested_memory": st.sampled_from(["512Mi", "10Gi", "1Ti", "64Ti", "16G", "1e9", "1.5Gi"]),
        "job_bucket": buckets,
        "output_bucket": buckets,
        "auto_shutdown": st.booleans(),
        "parallelism": st.just(1),
        "rdfox_port": st.integers(1, 65535),
        "restart_policy": st.sampled_from(["Never", "OnFailure", "never"]),
        "neptune_configuration": st.fixed_dictionaries(
            {},
            optional={
                "format": st.sampled_from(["ntriples", "nquads", "rdfxml", "turtle", "csv", "opencypher"]),
                "parallelism": st.sampled_from(["LOW", "MEDIUM", "HIGH", "OVERSUBSCRIBE"]),
                "queueRequest": st.booleans(),
                "mode": st.sampled_from(["RESUME", "NEW", "AUTO"]),
            },
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(old_specs)
def test_old_form_round_trips_through_new_form(old: dict) -> None:
    spec = parse_jobspec(old)
    assert spec.dataset == old["job_key"]
    assert spec.rdfox.keep_endpoint is (not old.get("auto_shutdown", False))  # the old default: kept
    again = parse_jobspec(json.dumps(spec.to_json_dict()))
    assert again == spec
    assert isinstance(again, JobSpec)


# One bad value per field: the error must name exactly that field.
BAD_VALUES = {
    "requested_cores": st.one_of(
        st.integers(max_value=0), st.integers(min_value=513), st.text(), st.booleans()
    ),
    "requested_memory": st.one_of(
        st.integers(max_value=2**28 - 1), st.sampled_from(["", "10 Gi", "-1Gi", "10gb", "65Ti", "1Ki"])
    ),
    "job_key": st.one_of(
        st.just(""), st.text(min_size=1).map(lambda s: s + "_"), st.text().map(lambda s: "x/" + s)
    ),
    "job_bucket": st.one_of(st.text(max_size=2), st.from_regex(r"[A-Z_]{3,10}", fullmatch=True)),
    "auto_shutdown": st.one_of(st.integers(), st.text()),
    "parallelism": st.integers().filter(lambda n: n != 1),
    "rdfox_port": st.one_of(st.integers(max_value=0), st.integers(min_value=65536)),
    "license_secret_name": st.from_regex(r"[A-Z_ ]{1,10}", fullmatch=True),
    "restart_policy": st.sampled_from(["Always", "", "sometimes"]),
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(BAD_VALUES)).flatmap(lambda k: st.tuples(st.just(k), BAD_VALUES[k])))
def test_any_single_invalid_field_is_named(bad: tuple[str, object]) -> None:
    key, value = bad
    err = error_of({**OLD, key: value})
    assert err.path == key, str(err)
