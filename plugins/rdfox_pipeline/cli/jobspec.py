"""`rdfox-pipeline jobspec validate FILE [--ssm]`: print the normalised jobspec as JSON, or one error line.

The jobspec is checked as a run checks it (``domain/jobspec_policy.py``): well-formed, inside the trust
boundary (closed fields only with the operator's value or one JOBSPEC_ALLOWED_FIELDS allows), under the caps,
and with the settings a pod needs (IMAGE_REGISTRY_ALLOWLIST outside the local stack). The operator's settings
are read from the environment, and with ``--ssm`` from SSM too, as the tasks read them. Notes on old
flat-form keys that are accepted but not used as the old system used them go to stderr, one ``note: ...``
line each (stdout stays the JSON document), as register_job logs and records them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from rdfox_pipeline.cli._files import read_bytes
from rdfox_pipeline.cli.main import CliError
from rdfox_pipeline.domain.jobspec import MAX_JOBSPEC_BYTES, JobSpecError, ParsedJobSpec
from rdfox_pipeline.domain.jobspec_policy import check_pod_start, parse_jobspec_for_run
from rdfox_pipeline.domain.settings import SSM_PATH, Settings, SettingsError, resolve_settings


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ssm", action="store_true", help=f"read SSM {SSM_PATH} as the tasks do")


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("jobspec", help="work with jobspec files")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    validate = verbs.add_parser(
        "validate", help="validate a jobspec as a run does; print its normalised form"
    )
    validate.add_argument("file", metavar="FILE", help="jobspec JSON file ('-' for stdin)")
    validate.add_argument(
        "--allowed-registry",
        action="append",
        default=None,
        metavar="PREFIX",
        help="allowed image registry prefix (repeatable; default: the IMAGE_REGISTRY_ALLOWLIST setting)",
    )
    validate.add_argument(
        "--delimiter",
        default=None,
        help="job id delimiter (default: the JOB_ID_DELIMETER setting, else '_')",
    )
    add_settings_arguments(validate)
    validate.set_defaults(handler=validate_command)


def ssm_layer(use_ssm: bool) -> dict[str, str]:
    """The SSM settings as the tasks read them (``--ssm``), else none."""
    if not use_ssm:
        return {}
    import boto3  # honours AWS_ENDPOINT_URL / AWS_DEFAULT_REGION, like `settings show --ssm`

    from rdfox_pipeline.aws.settings_loader import fetch_ssm_parameters

    try:
        return fetch_ssm_parameters(boto3.client("ssm"))
    except Exception as exc:  # botocore errors carry no secrets; one line says what to fix
        raise CliError(f"cannot read SSM {SSM_PATH}: {type(exc).__name__}: {exc}") from None


def operator_settings(ssm: dict[str, str]) -> Settings:
    """The settings a run would use before its jobspec: SSM (when read), then the environment."""
    try:
        return resolve_settings(ssm=ssm, env=os.environ)
    except SettingsError as exc:
        raise CliError(f"{'SSM or environment' if ssm else 'environment'}: {exc}") from None


def checked_jobspec(name: str, settings: Settings) -> ParsedJobSpec:
    """The jobspec file ``name`` checked as a run checks it; CliError (one line) naming the field if not."""
    raw = read_bytes(name, limit=MAX_JOBSPEC_BYTES)
    try:
        parsed = parse_jobspec_for_run(raw, settings)
        check_pod_start(settings)
    except (JobSpecError, SettingsError) as exc:
        raise CliError(f"{name}: {exc}") from None
    return parsed


def validate_command(args: argparse.Namespace) -> int:
    settings = operator_settings(ssm_layer(args.ssm))
    if args.allowed_registry is not None:
        settings = dataclasses.replace(settings, image_registry_allowlist=tuple(args.allowed_registry))
    if args.delimiter is not None:
        settings = dataclasses.replace(settings, job_id_delimeter=args.delimiter)
    spec, notes = checked_jobspec(args.file, settings)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps(spec.to_json_dict(), indent=2, sort_keys=False))
    return 0
