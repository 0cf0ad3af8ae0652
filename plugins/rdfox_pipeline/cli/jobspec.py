"""`rdfox-pipeline jobspec validate FILE`: print the normalised jobspec as JSON, or one error line.

Notes on old flat-form keys that are accepted but not used as the old system used them go to stderr, one
``note: ...`` line each (stdout stays the JSON document), as register_job logs and records them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from rdfox_pipeline.cli._files import read_bytes
from rdfox_pipeline.cli.main import CliError
from rdfox_pipeline.domain.jobspec import MAX_JOBSPEC_BYTES, JobSpecError, parse_jobspec_with_notes
from rdfox_pipeline.domain.settings import SettingsError, resolve_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("jobspec", help="work with jobspec files")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    validate = verbs.add_parser("validate", help="validate a jobspec and print its normalised form")
    validate.add_argument("file", metavar="FILE", help="jobspec JSON file ('-' for stdin)")
    validate.add_argument(
        "--allowed-registry",
        action="append",
        default=None,
        metavar="PREFIX",
        help="allowed image registry prefix (repeatable; default: IMAGE_REGISTRY_ALLOWLIST from the env)",
    )
    validate.add_argument(
        "--delimiter",
        default=None,
        help="job id delimiter (default: JOB_ID_DELIMETER from the env, else '_')",
    )
    validate.set_defaults(handler=validate_command)


def validate_command(args: argparse.Namespace) -> int:
    # Settings from the environment only: validating a file must not need AWS access.
    try:
        settings = resolve_settings(env=os.environ)
    except SettingsError as exc:
        raise CliError(f"environment: {exc}") from None
    allowed = settings.image_registry_allowlist if args.allowed_registry is None else args.allowed_registry
    delimiter = settings.job_id_delimeter if args.delimiter is None else args.delimiter
    raw = read_bytes(args.file, limit=MAX_JOBSPEC_BYTES)
    try:
        spec, notes = parse_jobspec_with_notes(
            raw,
            allowed_registries=allowed,
            delimiter=delimiter,
            aws_region=settings.aws_default_region,
            endpoint_ttl_hours=settings.rdfox_endpoint_ttl_hours,
        )
    except JobSpecError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps(spec.to_json_dict(), indent=2, sort_keys=False))
    return 0
