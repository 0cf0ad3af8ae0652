"""Issue 18, items 1 and 3 (caps): a jobspec chooses its data and resources, nothing more.

The policy (``domain/jobspec_policy.py``) is applied by register_job, ``rdfox-pipeline jobspec validate`` and
``rdfox-pipeline pod render`` alike; here through the domain call and the CLI, run in-process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rdfox_pipeline.cli.main import main
from rdfox_pipeline.domain.jobspec import JobSpecError
from rdfox_pipeline.domain.jobspec_policy import check_pod_start, parse_jobspec_for_run
from rdfox_pipeline.domain.settings import SettingsError, resolve_settings

SAMPLES = Path(__file__).resolve().parents[2] / "include" / "samples"
DIGEST = "@sha256:" + "ab" * 32
ECR = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/"
ROLE = "arn:aws:iam::123456789012:role/loader"
ENV = {"INPUT_BUCKET": "rdfox-pipeline-input", "OUTPUT_BUCKET": "rdfox-pipeline-output"}

# The security review's jobspec: every field it sets is one a jobspec must not choose.
HOSTILE = {
    "dataset": "SAMPLE",
    "kubernetes": {"namespace": "kube-system", "service_account": "cluster-admin"},
    "rdfox": {"license_secret_name": "aws-credentials"},
    "images": {"rdfox": "evil.example.com/rdfox:7"},
}

# One jobspec per closed field, each naming a value that differs from the operator's: (jobspec, path).
CLOSED = [
    ({"dataset": "D", "job_bucket": "someone-elses"}, "job_bucket"),
    ({"dataset": "D", "output_bucket": "someone-elses"}, "output_bucket"),
    ({"dataset": "D", "images": {"prepare": "evil.example.com/p:1"}}, "images.prepare"),
    ({"dataset": "D", "images": {"rdfox": "evil.example.com/r:1"}}, "images.rdfox"),
    ({"dataset": "D", "images": {"publish": "evil.example.com/q:1"}}, "images.publish"),
    ({"dataset": "D", "kubernetes": {"namespace": "kube-system"}}, "kubernetes.namespace"),
    ({"dataset": "D", "kubernetes": {"service_account": "admin"}}, "kubernetes.service_account"),
    ({"dataset": "D", "kubernetes": {"restart_policy": "OnFailure"}}, "kubernetes.restart_policy"),
    ({"dataset": "D", "rdfox": {"license_secret_name": "other"}}, "rdfox.license_secret_name"),
    ({"dataset": "D", "rdfox": {"password_secret_name": "other"}}, "rdfox.password_secret_name"),
    ({"dataset": "D", "rdfox": {"port": 2000}}, "rdfox.port"),
    ({"dataset": "D", "rdfox": {"prefixes": {"ex": "http://example.org/"}}}, "rdfox.prefixes"),
    ({"dataset": "D", "neptune": {"format": "nquads"}}, "neptune.format"),
    ({"dataset": "D", "neptune": {"mode": "NEW"}}, "neptune.mode"),
    (
        {"dataset": "D", "neptune": {"parser_configuration": {"namedGraphUri": "http://x/g"}}},
        "neptune.parser_configuration",
    ),
    (
        {"dataset": "D", "neptune": {"iam_role_arn": "arn:aws:iam::123456789012:role/other"}},
        "neptune.iam_role_arn",
    ),
    ({"dataset": "D", "neptune": {"cluster_endpoint": "other.example.com"}}, "neptune.cluster_endpoint"),
    (
        {"dataset": "D", "settings": {"BULKLOAD_TOPIC": "arn:aws:sns:eu-west-2:123456789012:other"}},
        "settings.BULKLOAD_TOPIC",
    ),
    ({"dataset": "D", "settings": {"RDFOXLOG_NAME": "other.log"}}, "settings.RDFOXLOG_NAME"),
    (
        {"dataset": "D", "settings": {"NEPTUNE_LOAD_TIMEOUT_HOURS": 300}},
        "settings.NEPTUNE_LOAD_TIMEOUT_HOURS",
    ),
    (
        {"dataset": "D", "settings": {"POD_STARTUP_TIMEOUT_SECONDS": 60}},
        "settings.POD_STARTUP_TIMEOUT_SECONDS",
    ),
    # the old flat form: refused naming the old key when it differs from the operator's setting
    ({"job_key": "D", "namespace": "kube-system"}, "namespace"),
    ({"job_key": "D", "service_account": "admin"}, "service_account"),
    ({"job_key": "D", "license_secret_name": "other"}, "license_secret_name"),
    ({"job_key": "D", "rdfox_password_secret": "other"}, "rdfox_password_secret"),
    ({"job_key": "D", "rdfox_container_image": "evil.example.com/r:1"}, "rdfox_container_image"),
    ({"job_key": "D", "job_bucket": "someone-elses"}, "job_bucket"),
    (
        {"job_key": "D", "neptune_configuration": {"iamRoleArn": "arn:aws:iam::123456789012:role/x"}},
        "neptune_configuration.iamRoleArn",
    ),
    (
        {"job_key": "D", "neptune_configuration": {"parser_configuration": {"namedGraphUri": "http://x/g"}}},
        "neptune_configuration.parser_configuration",
    ),
]


def _settings(**env: Any) -> Any:
    return resolve_settings(env={**ENV, **{k: str(v) for k, v in env.items()}})


def _refused(raw: Any, settings: Any) -> JobSpecError:
    with pytest.raises(JobSpecError) as info:
        parse_jobspec_for_run(raw, settings)
    return info.value


def test_the_hostile_jobspec_is_refused_naming_a_field() -> None:
    error = _refused(HOSTILE, _settings())
    assert error.path in {
        "images.rdfox",
        "kubernetes.namespace",
        "kubernetes.service_account",
        "rdfox.license_secret_name",
    }
    assert "operator" in error.problem and "JOBSPEC_ALLOWED_FIELDS" in error.problem


@pytest.mark.parametrize(("jobspec", "path"), CLOSED, ids=[p for _, p in CLOSED])
def test_each_closed_field_on_its_own_is_refused(jobspec: dict[str, Any], path: str) -> None:
    error = _refused(jobspec, _settings(NEPTUNE_IAM_ROLE_ARN="arn:aws:iam::123456789012:role/loader"))
    assert error.path == path and str(error).startswith(f"{path}: ")


def test_open_fields_need_no_allow_list() -> None:
    spec = parse_jobspec_for_run(
        {
            "dataset": "D",
            "name": "nightly",
            "resources": {"cores": 8, "memory": "32Gi"},
            "rdfox": {"keep_endpoint": True, "endpoint_ttl_hours": 48},
        },
        _settings(),
    ).spec
    assert (spec.resources.cores, spec.rdfox.endpoint_ttl_hours) == (8, 48)


def test_a_closed_field_with_the_operators_value_is_accepted_as_the_operators() -> None:
    settings = _settings(KUBERNETES_NAMESPACE="jobs")
    spec = parse_jobspec_for_run({"dataset": "D", "kubernetes": {"namespace": "jobs"}}, settings).spec
    assert spec.kubernetes.namespace == "jobs"
    # A Docker Hub short name that is the operator's image runs as the operator wrote it (no short name).
    spec = parse_jobspec_for_run(
        {"job_key": "D", "rdfox_container_image": "oxfordsemantic/rdfox:7.1.1"},
        _settings(RDFOX_IMAGE="docker.io/oxfordsemantic/rdfox:7.1.1"),
    ).spec
    assert spec.images.rdfox == "docker.io/oxfordsemantic/rdfox:7.1.1"


def test_old_keys_that_repeat_the_operators_settings_keep_validating() -> None:
    old = {
        "job_key": "D", "job_bucket": "rdfox-pipeline-input", "output_bucket": "rdfox-pipeline-output",
        "namespace": "rdfox", "service_account": "rdfox-pipeline", "license_secret_name": "rdfox-license",
        "rdfox_password_secret": "rdfox-password", "rdfox_port": 12110, "restart_policy": "Never",
        "rdfox_container_image": "oxfordsemantic/rdfox:7.1.1",
        "neptune_configuration": {"format": "turtle", "queueRequest": True, "fail_on_error": False,
                                  "parallelism": "HIGH", "mode": "AUTO", "iamRoleArn": ROLE},
    }  # fmt: skip
    spec = parse_jobspec_for_run(old, _settings(NEPTUNE_IAM_ROLE_ARN=ROLE)).spec
    assert (spec.kubernetes.namespace, spec.rdfox.license_secret_name) == ("rdfox", "rdfox-license")
    assert spec.images.rdfox == "docker.io/oxfordsemantic/rdfox:7.1.1"


def test_the_old_submitters_jobspec_runs_unchanged_under_the_defaults() -> None:
    parsed = parse_jobspec_for_run((SAMPLES / "legacy-submitter.rdfoxjob.json").read_bytes(), _settings())
    assert parsed.spec.images.rdfox == resolve_settings().rdfox_image
    assert parsed.spec.job_bucket == "rdfox-pipeline-input"


def test_an_operator_opens_a_field_with_exact_values() -> None:
    image = f"{ECR}rdfox{DIGEST}"
    allowed = json.dumps(
        {
            "images.rdfox": [image],
            "kubernetes.namespace": ["rdfox-big"],
            "settings.NEPTUNE_LOAD_POLL_SECONDS": [10],
        }
    )
    settings = _settings(
        JOBSPEC_ALLOWED_FIELDS=allowed,
        IMAGE_REGISTRY_ALLOWLIST=f"{ECR},docker.io/",
        PREPARE_IMAGE=f"{ECR}prepare:1",
        PUBLISH_IMAGE=f"{ECR}publish:1",
    )
    spec = parse_jobspec_for_run(
        {
            "dataset": "D",
            "images": {"rdfox": image},
            "kubernetes": {"namespace": "rdfox-big"},
            "settings": {"NEPTUNE_LOAD_POLL_SECONDS": 10},
        },
        settings,
    ).spec
    assert spec.images.rdfox == image and spec.kubernetes.namespace == "rdfox-big"
    # Exact values only: another tag of the same repository, another namespace, another number are refused.
    for jobspec, path in (
        ({"dataset": "D", "images": {"rdfox": f"{ECR}rdfox:latest"}}, "images.rdfox"),
        ({"dataset": "D", "kubernetes": {"namespace": "kube-system"}}, "kubernetes.namespace"),
        (
            {"dataset": "D", "settings": {"NEPTUNE_LOAD_POLL_SECONDS": 11}},
            "settings.NEPTUNE_LOAD_POLL_SECONDS",
        ),
    ):
        error = _refused(jobspec, settings)
        assert error.path == path and "not one of the values JOBSPEC_ALLOWED_FIELDS allows" in error.problem


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('{"kubernetes.nope": ["x"]}', "'kubernetes.nope' is not a field a jobspec sets"),
        ('{"dataset": ["x"]}', "'dataset' is open to every jobspec"),
        ('{"images.rdfox": ["registry.example.com/rdfox:7; rm -rf /"]}', "is not valid there"),
        ('{"kubernetes.namespace": []}', "a non-empty list"),
        ('{"settings.JOB_TABLE_NAME": ["x"]}', "cannot be overridden per job"),
        ('["images.rdfox"]', "expected a JSON object"),
    ],
)
def test_the_allow_list_setting_is_checked(value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        _settings(JOBSPEC_ALLOWED_FIELDS=value)
    assert info.value.name == "JOBSPEC_ALLOWED_FIELDS" and fragment in info.value.problem


@pytest.mark.parametrize(
    ("jobspec", "path", "cap"),
    [
        ({"dataset": "D", "resources": {"cores": 65}}, "resources.cores", "JOBSPEC_MAX_CORES (64)"),
        (
            {"dataset": "D", "resources": {"memory": "300Gi"}},
            "resources.memory",
            "JOBSPEC_MAX_MEMORY (256Gi)",
        ),
        (
            {"dataset": "D", "rdfox": {"endpoint_ttl_hours": 169}},
            "rdfox.endpoint_ttl_hours",
            "JOBSPEC_MAX_ENDPOINT_TTL_HOURS (168)",
        ),
        ({"job_key": "D", "requested_cores": 100}, "requested_cores", "JOBSPEC_MAX_CORES (64)"),
        ({"job_key": "D", "requested_memory": 400 * 2**30}, "requested_memory", "JOBSPEC_MAX_MEMORY (256Gi)"),
    ],
)
def test_resources_over_a_cap_are_refused_naming_field_and_cap(jobspec: dict, path: str, cap: str) -> None:
    error = _refused(jobspec, _settings())
    assert error.path == path and cap in error.problem


def test_caps_are_operator_settings() -> None:
    settings = _settings(
        JOBSPEC_MAX_CORES=2,
        JOBSPEC_MAX_MEMORY="4Gi",
        JOBSPEC_MAX_ENDPOINT_TTL_HOURS=2,
        JOBSPEC_MAX_POD_STARTUP_TIMEOUT_SECONDS=120,
        JOBSPEC_ALLOWED_FIELDS='{"settings.POD_STARTUP_TIMEOUT_SECONDS": [60, 900]}',
    )
    small = {"dataset": "D", "resources": {"cores": 1, "memory": "1Gi"}}
    parse_jobspec_for_run({"dataset": "D", "resources": {"cores": 2, "memory": "4Gi"}}, settings)
    assert _refused({"dataset": "D", "resources": {"cores": 3}}, settings).path == "resources.cores"
    assert _refused({"dataset": "D", "resources": {"cores": 1, "memory": "5Gi"}}, settings).path == (
        "resources.memory"
    )
    # The jobspec's defaults (4 cores, 16Gi) are held to the caps too: the operator's caps always win.
    assert _refused({"dataset": "D"}, settings).path == "resources.cores"
    assert (
        _refused({**small, "rdfox": {"endpoint_ttl_hours": 3}}, settings).path == "rdfox.endpoint_ttl_hours"
    )
    # The startup timeout is closed; opened, an allowed value is still held to its cap.
    parse_jobspec_for_run({**small, "settings": {"POD_STARTUP_TIMEOUT_SECONDS": 60}}, settings)
    error = _refused({**small, "settings": {"POD_STARTUP_TIMEOUT_SECONDS": 900}}, settings)
    assert error.path == "settings.POD_STARTUP_TIMEOUT_SECONDS"
    assert "JOBSPEC_MAX_POD_STARTUP_TIMEOUT_SECONDS (120)" in error.problem


def test_pods_need_a_registry_allow_list_outside_the_local_stack() -> None:
    with pytest.raises(SettingsError) as info:
        check_pod_start(_settings(LOCAL_STACK="false"))
    assert info.value.name == "IMAGE_REGISTRY_ALLOWLIST" and "LOCAL_STACK" in info.value.problem
    check_pod_start(_settings(LOCAL_STACK="true"))
    check_pod_start(_settings(IMAGE_REGISTRY_ALLOWLIST="registry.invalid/,docker.io/oxfordsemantic/"))


def test_default_step_images_are_not_docker_hub_short_names() -> None:
    defaults = resolve_settings()
    for image in (defaults.prepare_image, defaults.rdfox_image, defaults.publish_image):
        first = image.split("/", 1)[0]
        assert "." in first or ":" in first, (
            f"{image} would be looked up on Docker Hub (or a search registry)"
        )


# --- the CLI applies the same policy as a run -------------------------------------------------------------
def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOCAL_STACK", "false")
    monkeypatch.setenv("IMAGE_REGISTRY_ALLOWLIST", "registry.invalid/,docker.io/oxfordsemantic/")
    return monkeypatch


@pytest.mark.parametrize("verb", [("jobspec", "validate"), ("pod", "render")])
def test_cli_refuses_the_hostile_jobspec(
    verb: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hostile.rdfoxjob.json"
    # Without its image (the registry allow-list alone refuses that): the rest must be refused too.
    path.write_text(json.dumps({k: v for k, v in HOSTILE.items() if k != "images"}))
    code, out, err = _cli(capsys, *verb, str(path))
    assert code == 2 and out == ""
    assert "kubernetes.namespace: closed to jobspecs" in err and "JOBSPEC_ALLOWED_FIELDS" in err


def test_cli_opens_fields_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.rdfoxjob.json"
    path.write_text(json.dumps({"dataset": "D", "kubernetes": {"namespace": "rdfox-big"}}))
    cli_env.setenv("JOBSPEC_ALLOWED_FIELDS", '{"kubernetes.namespace": ["rdfox-big"]}')
    code, out, _ = _cli(capsys, "pod", "render", str(path))
    assert code == 0 and "namespace: rdfox-big" in out


def test_pod_render_refuses_without_registry_allow_list(
    capsys: pytest.CaptureFixture[str], cli_env: pytest.MonkeyPatch
) -> None:
    cli_env.delenv("IMAGE_REGISTRY_ALLOWLIST")
    code, out, err = _cli(capsys, "pod", "render", str(SAMPLES / "sample.rdfoxjob.json"))
    assert code == 2 and out == "" and "IMAGE_REGISTRY_ALLOWLIST" in err


@pytest.mark.parametrize("sample", ["sample.rdfoxjob.json", "legacy-submitter.rdfoxjob.json"])
def test_pod_render_of_the_samples_has_no_docker_hub_short_names(
    sample: str, capsys: pytest.CaptureFixture[str], cli_env: pytest.MonkeyPatch
) -> None:
    import yaml

    code, out, err = _cli(capsys, "pod", "render", str(SAMPLES / sample))
    assert code == 0, err
    pod = yaml.safe_load(out)
    images = [c["image"] for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]]
    assert len(images) == 3
    for image in images:
        first = image.split("/", 1)[0]
        assert "." in first or ":" in first, image
