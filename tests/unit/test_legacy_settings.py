"""The old system's setting defaults (pure data) and the differences diff-legacy reports."""

from __future__ import annotations

import shlex

import pytest
from rdfox_pipeline.domain.legacy_settings import (
    LEGACY_DEFAULTS,
    NOT_KNOWN,
    legacy_differences,
    restore_command,
)
from rdfox_pipeline.domain.settings import SETTINGS, SSM_PATH, resolve_settings_with_sources

# From ../shared/DESIGN.md "Configuration" and the issue: what the old system's operators had.
OLD = {
    "JOBSPEC_NAME": "rdfoxjob.json",
    "RDFOXLOG_NAME": "rdfox.log",
    "JOB_ID_DELIMETER": "_",
    "NEPTUNE_SOURCE_FORMAT": "turtle",
    "NEPTUNE_UPDATE_SINGLE_CARDINALITY_PROPERTIES": True,
    "NEPTUNE_QUEUE_REQUEST": True,
    "NEPTUNE_FAIL_ON_ERROR": False,
    "LOG_LEVEL": "info",
    "NEPTUNE_PARALLELISM": "OVERSUBSCRIBE",
    "NOTIFICATION_SUBJECT_TEMPLATE": "Inference Result Notification for ID - {job_id} - JobStatus.{status}",
}


def test_table_holds_the_known_old_defaults_and_guesses_nothing() -> None:
    assert {n: d.old for n, d in LEGACY_DEFAULTS.items() if d.known} == OLD
    assert sorted(n for n, d in LEGACY_DEFAULTS.items() if not d.known) == [
        "JOB_TABLE_NAME", "KUBERNETES_NAMESPACE", "SERVICE_ACCOUNT",
    ]  # fmt: skip
    for name, entry in LEGACY_DEFAULTS.items():
        assert name in SETTINGS and entry.name == name
        assert entry.reason and "\n" not in entry.reason
    with pytest.raises(ValueError, match="JOB_TABLE_NAME: the old default is not known"):
        LEGACY_DEFAULTS["JOB_TABLE_NAME"].old_value()
    assert repr(NOT_KNOWN) == "NOT_KNOWN"


def test_with_todays_defaults_only_parallelism_and_subject_differ() -> None:
    settings, sources = resolve_settings_with_sources()
    differences, unknown = legacy_differences(settings.as_dict(), sources)
    assert [(d.name, d.value, d.old, d.source) for d in differences] == [
        ("NEPTUNE_PARALLELISM", "HIGH", "OVERSUBSCRIBE", "default"),
        ("NOTIFICATION_SUBJECT_TEMPLATE", None, OLD["NOTIFICATION_SUBJECT_TEMPLATE"], "default"),
    ]
    assert [u.name for u in unknown] == ["JOB_TABLE_NAME", "KUBERNETES_NAMESPACE", "SERVICE_ACCOUNT"]


def test_an_operators_change_is_reported_with_the_layer_it_came_from() -> None:
    settings, sources = resolve_settings_with_sources(
        ssm={"NEPTUNE_QUEUE_REQUEST": "false", "NEPTUNE_PARALLELISM": "oversubscribe"},
        env={"LOG_LEVEL": "debug", "JOB_ID_DELIMETER": "_"},
    )
    differences, _ = legacy_differences(settings.as_dict(), sources)
    assert {d.name: d.source for d in differences} == {
        "NEPTUNE_QUEUE_REQUEST": "ssm",
        "LOG_LEVEL": "environment",
        "NOTIFICATION_SUBJECT_TEMPLATE": "default",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(OLD))
def test_each_restore_command_sets_a_value_that_parses_back_to_the_old_default(name: str) -> None:
    argv = shlex.split(restore_command(name, OLD[name]))
    assert argv == [
        "aws", "ssm", "put-parameter", "--name", f"{SSM_PATH}{name}", "--value", argv[6], "--type", "String",
        "--overwrite",
    ]  # fmt: skip
    settings, sources = resolve_settings_with_sources(ssm={name: argv[6]})
    assert sources[name] == "ssm"
    assert settings.as_dict()[name] == LEGACY_DEFAULTS[name].old_value()
