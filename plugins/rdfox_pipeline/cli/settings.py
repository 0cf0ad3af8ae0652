"""`rdfox-pipeline settings show|diff-legacy`: the resolved settings and where each came from.

Layers as the tasks use them: a jobspec's per-job overrides (``--jobspec FILE``, checked as a run checks it:
an override the trust boundary closes is refused naming it) > SSM
``/parameter/pipeline_control/`` (only with ``--ssm``: reading AWS is opt-in, as for the other verbs) >
environment > default. ``diff-legacy`` lists the settings whose value is not the old system's default
(``domain/legacy_settings.py``) with the SSM command that restores it.
Secret-looking values are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from rdfox_pipeline.cli._files import read_bytes
from rdfox_pipeline.cli.main import CliError
from rdfox_pipeline.domain.jobspec import MAX_JOBSPEC_BYTES, JobSpecError
from rdfox_pipeline.domain.jobspec_policy import parse_jobspec_for_run
from rdfox_pipeline.domain.legacy_settings import legacy_differences
from rdfox_pipeline.domain.settings import (
    SETTINGS,
    SOURCE_JOBSPEC,
    SSM_PATH,
    Settings,
    SettingsError,
    resolve_settings_with_sources,
)
from rdfox_pipeline.notifications.redact import redact

HIDDEN = "[hidden]"
# Names that suggest the value itself is a credential.
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|CREDENTIAL|PRIVATE_KEY|API_KEY")
# These hold the *names* of Kubernetes Secrets, not their content: safe to show.
_SECRET_REFERENCES = frozenset({"RDFOX_LICENSE_SECRET", "RDFOX_PASSWORD_SECRET"})


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("settings", help="resolved settings and the old system's defaults")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, help_text, handler in (
        ("show", "every setting, its value and its source", show_command),
        ("diff-legacy", "settings whose value is not the old system's default", diff_legacy_command),
    ):
        parser = verbs.add_parser(name, help=help_text)
        parser.add_argument("--jobspec", metavar="FILE", help="apply this jobspec's per-job overrides")
        parser.add_argument("--ssm", action="store_true", help=f"read SSM {SSM_PATH} as the tasks do")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=handler)


# -- resolution ------------------------------------------------------------------------------------


def _read_ssm() -> tuple[dict[str, str], set[str]]:
    """The SSM layer (as the tasks read it) and the names of its SecureString parameters."""
    import boto3  # honours AWS_ENDPOINT_URL / AWS_DEFAULT_REGION, like `submit`

    from rdfox_pipeline.aws.settings_loader import fetch_ssm_parameters

    try:
        client = boto3.client("ssm")
        values = fetch_ssm_parameters(client)
        secure: set[str] = set()
        for page in client.get_paginator("get_parameters_by_path").paginate(
            Path=SSM_PATH.rstrip("/"), Recursive=False, WithDecryption=False
        ):
            secure |= {
                p["Name"].rsplit("/", 1)[-1]
                for p in page.get("Parameters", [])
                if p.get("Type") == "SecureString"
            }
    except Exception as exc:  # botocore errors carry no secrets; one line says what to fix
        raise CliError(f"cannot read SSM {SSM_PATH}: {type(exc).__name__}: {exc}") from None
    return values, secure


def resolve(args: argparse.Namespace) -> tuple[Settings, dict[str, str], set[str]]:
    """Settings, their sources and the names whose value must not be shown."""
    ssm, secure = _read_ssm() if args.ssm else ({}, set())
    env = dict(os.environ)
    try:
        base, sources = resolve_settings_with_sources(ssm=ssm, env=env)
    except SettingsError as exc:
        where = "SSM or environment" if args.ssm else "environment"
        raise CliError(f"{where}: {exc}") from None
    if not args.jobspec:
        return base, sources, secure
    raw = read_bytes(args.jobspec, limit=MAX_JOBSPEC_BYTES)
    try:
        # As a run takes it: a per-job override the trust boundary closes is refused here too.
        spec = parse_jobspec_for_run(raw, base).spec
        settings, sources = resolve_settings_with_sources(spec.setting_overrides(), ssm=ssm, env=env)
    except (JobSpecError, SettingsError) as exc:
        raise CliError(f"{args.jobspec}: {exc}") from None
    return settings, sources, secure


def is_secret(name: str, value: Any, secure_names: AbstractSet[str] = frozenset()) -> bool:
    """Whether to hide a value: a SecureString, a credential-like name, or a credential-shaped value."""
    if value is None:
        return False
    if name in secure_names or (_SECRET_NAME.search(name) and name not in _SECRET_REFERENCES):
        return True
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return redact(text) != text


def _shown(name: str, value: Any, secure: set[str]) -> Any:
    if is_secret(name, value, secure):
        return HIDDEN
    return list(value) if isinstance(value, tuple) else value


def _text(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":"))
    return str(value)


# -- verbs -----------------------------------------------------------------------------------------


def show_command(args: argparse.Namespace) -> int:
    settings, sources, secure = resolve(args)
    values = settings.as_dict()
    rows = {name: {"value": _shown(name, values[name], secure), "source": sources[name]} for name in SETTINGS}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(name) for name in rows)
    print(f"{'SETTING'.ljust(width)}  {'SOURCE'.ljust(11)}  VALUE")
    for name, row in rows.items():
        print(f"{name.ljust(width)}  {row['source'].ljust(11)}  {_text(row['value'])}")
    return 0


def _difference_json(d: Any, secure: set[str]) -> Mapping[str, Any]:
    return {
        "name": d.name,
        "value": _shown(d.name, d.value, secure),
        "source": d.source,
        "old_default": d.old,
        "reason": d.reason,
        "restore": d.command,
    }


def diff_legacy_command(args: argparse.Namespace) -> int:
    settings, sources, secure = resolve(args)
    differences, unknown = legacy_differences(settings.as_dict(), sources)
    if args.json:
        document = {
            "differences": [_difference_json(d, secure) for d in differences],
            "old_default_not_known": [u.name for u in unknown],
        }
        print(json.dumps(document, indent=2))
        return 0
    if not differences:
        print("Every setting whose old default is known has it.")
    for d in differences:
        print(d.name)
        print(f"  now:      {_text(_shown(d.name, d.value, secure))} ({d.source})")
        print(f"  old:      {_text(d.old)}")
        print(f"  why:      {d.reason}")
        print(f"  restore:  {d.command}")
        if d.source == SOURCE_JOBSPEC:
            print("            (this value comes from the jobspec, which wins over SSM: change the jobspec)")
    if unknown:
        print("Old default not known, not compared: " + ", ".join(u.name for u in unknown))
    return 0
