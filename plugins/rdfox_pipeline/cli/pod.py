"""`rdfox-pipeline pod render JOBSPEC_FILE [--job-id ID] [--ssm]`: print the job's pod manifest as YAML.

Settings come from the environment (and SSM with ``--ssm``); the jobspec is checked as a run checks it
(``rdfox-pipeline jobspec validate``), so what is printed is the pod a run would create, or the one-line
reason it would create none. Without ``--job-id`` a job id of today's date and number 000 is
used, as the first job of the day would get. Jobspec notes (old flat-form keys not used as before) go to
stderr as ``note: ...`` lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from rdfox_pipeline.cli.jobspec import add_settings_arguments, checked_jobspec, operator_settings, ssm_layer
from rdfox_pipeline.cli.main import CliError
from rdfox_pipeline.domain.settings import SettingsError, resolve_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("pod", help="the RDFox pod of a job")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    render = verbs.add_parser("render", help="print the pod manifest of a jobspec as YAML")
    render.add_argument("file", metavar="JOBSPEC_FILE", help="jobspec JSON file ('-' for stdin)")
    render.add_argument(
        "--job-id", default=None, metavar="ID", help="job id (default: <dataset><d><today><d>000)"
    )
    add_settings_arguments(render)
    render.set_defaults(handler=render_command)


def render_command(args: argparse.Namespace) -> int:
    import yaml

    from rdfox_pipeline.domain.job_ids import format_job_id, parse_job_id
    from rdfox_pipeline.pod.manifest import build_pod_manifest

    ssm = ssm_layer(args.ssm)
    base = operator_settings(ssm)
    delimiter = base.job_id_delimeter
    spec, notes = checked_jobspec(args.file, base)
    try:
        settings = resolve_settings(spec.setting_overrides(), ssm=ssm, env=os.environ)
    except SettingsError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    if args.job_id is None:
        job_id = format_job_id(spec.dataset, dt.datetime.now(dt.UTC).date(), 0, delimiter)
    else:
        try:
            job = parse_job_id(args.job_id, delimiter)
        except ValueError as exc:
            raise CliError(f"--job-id: {exc}") from None
        if job.dataset != spec.dataset:
            raise CliError(f"--job-id: dataset {job.dataset!r} is not the jobspec's {spec.dataset!r}")
        job_id = args.job_id
    try:
        manifest = build_pod_manifest(spec, job_id, settings)
    except ValueError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    for note in notes:  # e.g. which old images the pipeline's step images replace
        print(f"note: {note}", file=sys.stderr)
    print(yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False), end="")
    return 0
