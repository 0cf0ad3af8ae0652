"""The old system's defaults for the settings its operators configured (SSM ``/parameter/pipeline_control/``).

Data for ``rdfox-pipeline settings diff-legacy`` and docs/migration.md: each entry is the old default
and one line on what it does (or why today's default differs). ``NOT_KNOWN`` marks a setting whose old
default is not on record: it is never guessed, so such settings are listed but not compared.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from rdfox_pipeline.domain.settings import SETTINGS, SSM_PATH
from rdfox_pipeline.domain.subject_template import LEGACY_SUBJECT_TEMPLATE


class _NotKnown:
    def __repr__(self) -> str:
        return "NOT_KNOWN"


NOT_KNOWN: Final = _NotKnown()


@dataclass(frozen=True)
class LegacyDefault:
    name: str
    old: Any  # the value as the old system's SSM parameter held it, or NOT_KNOWN
    reason: str  # one line: what the setting does, or why today's default differs

    @property
    def known(self) -> bool:
        return self.old is not NOT_KNOWN

    def old_value(self) -> Any:
        """The old default as this pipeline parses it (comparable with a resolved setting)."""
        if not self.known:
            raise ValueError(f"{self.name}: the old default is not known")
        return SETTINGS[self.name].coerce(self.old)


LEGACY_DEFAULTS: Mapping[str, LegacyDefault] = {
    d.name: d
    for d in (
        LegacyDefault(
            "JOBSPEC_NAME", "rdfoxjob.json", "suffix the jobspec files in the input prefix end with"
        ),
        LegacyDefault("RDFOXLOG_NAME", "rdfox.log", "name of the RDFox log published beside the answers"),
        LegacyDefault("JOB_ID_DELIMETER", "_", "separator in job ids <DATASET>_<YYYY-MM-DD>_<NNN>"),
        LegacyDefault(
            "NEPTUNE_SOURCE_FORMAT", "turtle", "loader format (N-Triples answers are valid Turtle)"
        ),
        LegacyDefault(
            "NEPTUNE_UPDATE_SINGLE_CARDINALITY_PROPERTIES", True, "loader updateSingleCardinalityProperties"
        ),
        LegacyDefault("NEPTUNE_QUEUE_REQUEST", True, "loader queueRequest: a load waits behind running ones"),
        LegacyDefault(
            "NEPTUNE_FAIL_ON_ERROR", False, "loader failOnError: a bad record does not stop the load"
        ),
        LegacyDefault("LOG_LEVEL", "info", "log level of the tasks"),
        LegacyDefault(
            "NEPTUNE_PARALLELISM",
            "OVERSUBSCRIBE",
            "now HIGH, Neptune's own default: OVERSUBSCRIBE gives the load every thread of the writer, so "
            "queries on the cluster slow down while a load runs; the old value loads faster",
        ),
        LegacyDefault(
            "NOTIFICATION_SUBJECT_TEMPLATE",
            LEGACY_SUBJECT_TEMPLATE,
            "now the built-in 'RDFox job succeeded: <job id>' / 'RDFox job failed (<STATUS>): <job id>', "
            "which says the outcome first; mail rules written for the old subject need the old template",
        ),
        LegacyDefault(
            "JOB_TABLE_NAME",
            NOT_KNOWN,
            "not on record; `jobs import-legacy --from-table NAME` reads the old table",
        ),
        LegacyDefault(
            "KUBERNETES_NAMESPACE",
            NOT_KNOWN,
            "not on record; old jobspecs could name it (key `namespace`), as they still can",
        ),
        LegacyDefault(
            "SERVICE_ACCOUNT", NOT_KNOWN, "not on record; old jobspecs could name it (key `service_account`)"
        ),
    )
}


def ssm_value_text(value: Any) -> str:
    """A setting value as the text an SSM String parameter holds (what the settings parser reads back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def restore_command(name: str, value: Any) -> str:
    """The one-line AWS CLI command that sets SSM parameter ``name`` to ``value`` (shell-quoted)."""
    return (
        f"aws ssm put-parameter --name {SSM_PATH}{name} --value {shlex.quote(ssm_value_text(value))} "
        "--type String --overwrite"
    )


@dataclass(frozen=True)
class LegacyDifference:
    name: str
    value: Any  # resolved today
    source: str
    old: Any
    reason: str
    command: str


def legacy_differences(
    values: Mapping[str, Any], sources: Mapping[str, str]
) -> tuple[list[LegacyDifference], list[LegacyDefault]]:
    """The settings whose resolved value (``values``: SETTING_NAME -> value) is not the old default, and the
    entries whose old default is not known (not compared)."""
    differences: list[LegacyDifference] = []
    unknown: list[LegacyDefault] = []
    for name, entry in LEGACY_DEFAULTS.items():
        if not entry.known:
            unknown.append(entry)
            continue
        if values.get(name) != entry.old_value():
            differences.append(
                LegacyDifference(
                    name, values.get(name), sources.get(name, "default"), entry.old, entry.reason,
                    restore_command(name, entry.old),
                )
            )  # fmt: skip
    return differences, unknown
