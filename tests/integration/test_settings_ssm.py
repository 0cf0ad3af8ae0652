"""Settings against moto's SSM over HTTP: jobspec > SSM > env > default; SSM read once per process."""

from __future__ import annotations

import uuid

import boto3
import pytest
from rdfox_pipeline.aws import settings_loader
from rdfox_pipeline.aws.settings_loader import SettingsLoadError, clear_settings_cache, load_settings
from rdfox_pipeline.domain.jobspec import parse_jobspec
from rdfox_pipeline.domain.settings import SSM_PATH, SettingsError


@pytest.fixture
def ssm(aws_endpoint: str):
    client = boto3.client("ssm")
    created: set[str] = set()

    def put(name: str, value: str, kind: str = "String") -> None:
        client.put_parameter(Name=SSM_PATH + name, Value=value, Type=kind, Overwrite=True)
        created.add(SSM_PATH + name)

    clear_settings_cache()
    yield put
    clear_settings_cache()
    for name in created:
        client.delete_parameter(Name=name)


def test_missing_path_gives_env_then_defaults(ssm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_PARALLELISM", "low")
    settings = load_settings()
    assert settings.neptune_parallelism == "LOW"  # env over default, normalised
    assert settings.job_table_name == "rdfox-pipeline-jobs"  # default


def test_ssm_overrides_env_and_jobspec_overrides_all(ssm, monkeypatch: pytest.MonkeyPatch) -> None:
    ssm("NEPTUNE_PARALLELISM", "MEDIUM")
    ssm("NEPTUNE_LOAD_POLL_SECONDS", "5")
    ssm("RDFOX_PASSWORD_SECRET", "ssm-password", "SecureString")  # decrypted on read
    monkeypatch.setenv("NEPTUNE_PARALLELISM", "LOW")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.neptune_parallelism == "MEDIUM"
    assert settings.neptune_load_poll_seconds == 5
    assert settings.rdfox_password_secret == "ssm-password"
    assert settings.log_level == "debug"  # env, nothing in SSM

    spec = parse_jobspec({"dataset": "DS", "neptune": {"parallelism": "OVERSUBSCRIBE"}})
    per_job = load_settings(spec)
    assert per_job.neptune_parallelism == "OVERSUBSCRIBE"
    assert per_job.neptune_load_poll_seconds == 5
    assert load_settings({"NEPTUNE_LOAD_POLL_SECONDS": 7}).neptune_load_poll_seconds == 7


def test_ssm_is_read_once_per_process(ssm, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = settings_loader.fetch_ssm_parameters

    def counting(client: object, path: str = SSM_PATH) -> dict[str, str]:
        calls.append(client)
        return real(client, path)

    monkeypatch.setattr(settings_loader, "fetch_ssm_parameters", counting)
    ssm("LOG_LEVEL", "warning")
    assert load_settings().log_level == "warning"
    ssm("LOG_LEVEL", "error")  # changed after the first read: not seen until the cache is cleared
    assert load_settings().log_level == "warning"
    assert len(calls) == 1
    clear_settings_cache()
    assert load_settings().log_level == "error"
    assert len(calls) == 2


def test_pagination_reads_every_parameter(ssm) -> None:
    # moto pages get_parameters_by_path 10 at a time: more settings than one page must all arrive.
    names = [
        "RDFOX_IMAGE",
        "PREPARE_IMAGE",
        "PUBLISH_IMAGE",
        "KUBERNETES_NAMESPACE",
        "SERVICE_ACCOUNT",
        "RDFOX_LICENSE_SECRET",
        "CLUSTER_NAME",
        "BULKLOAD_TOPIC",
        "JOB_TABLE_NAME",
        "LOG_LEVEL",
        "NEPTUNE_LOAD_MODE",
        "NEPTUNE_SOURCE_FORMAT",
    ]
    values = {
        "RDFOX_IMAGE": "reg.io/rdfox:7",
        "PREPARE_IMAGE": "reg.io/prep:1",
        "PUBLISH_IMAGE": "reg.io/pub:1",
        "KUBERNETES_NAMESPACE": "jobs",
        "SERVICE_ACCOUNT": "sa",
        "RDFOX_LICENSE_SECRET": "lic",
        "CLUSTER_NAME": "eks-1",
        "BULKLOAD_TOPIC": "arn:aws:sns:eu-west-2:123456789012:t",
        "JOB_TABLE_NAME": f"t-{uuid.uuid4().hex[:6]}",
        "LOG_LEVEL": "error",
        "NEPTUNE_LOAD_MODE": "new",
        "NEPTUNE_SOURCE_FORMAT": "NTRIPLES",
    }
    for name in names:
        ssm(name, values[name])
    got = load_settings().as_dict()
    assert got["RDFOX_IMAGE"] == "reg.io/rdfox:7"
    assert got["JOB_TABLE_NAME"] == values["JOB_TABLE_NAME"]
    assert got["NEPTUNE_LOAD_MODE"] == "NEW"
    assert got["NEPTUNE_SOURCE_FORMAT"] == "ntriples"
    assert all(got[n] is not None for n in names)


def test_bad_ssm_value_names_the_setting(ssm) -> None:
    ssm("NEPTUNE_QUEUE_REQUEST", "perhaps")
    with pytest.raises(SettingsError, match=r"^NEPTUNE_QUEUE_REQUEST: expected a boolean"):
        load_settings()


def test_unreachable_ssm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    clear_settings_cache()
    try:
        with pytest.raises(SettingsLoadError, match=r"cannot read SSM /parameter/pipeline_control/"):
            load_settings()
    finally:
        clear_settings_cache()


def test_airflow_connection_is_used(
    ssm, aws_default_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm("CLUSTER_NAME", "via-connection")
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # only the connection's endpoint_url points at moto now
    assert load_settings(aws_conn_id=aws_default_connection).cluster_name == "via-connection"
