"""What ``rdfox-pipeline --help`` tells its users: the tool's purpose, and an example for every verb.

Kept in one table so that a verb without an example is noticed (tests/unit/test_cli_help.py walks every
verb's ``--help`` and parses each example with the real parser).
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Run and inspect RDFox reasoning jobs whose results are bulk-loaded into Amazon Neptune.

A job is described by a jobspec (a small JSON file: the dataset, cores and memory, buckets). Uploaded to
the input bucket, or triggered in Airflow, it becomes one run of the Airflow DAG rdfox_neptune_pipeline:
RDFox reasons over the dataset in a Kubernetes pod, the inferred triples are loaded into Neptune, the job
is recorded in DynamoDB and an SNS notification says how it ended."""

EPILOG = """\
common tasks:
  # check a jobspec before uploading it
  rdfox-pipeline jobspec validate my-job.rdfoxjob.json
  # upload a job for dataset SALES (the upload starts its run)
  rdfox-pipeline submit --dataset SALES --cores 4 --memory 16Gi
  # a job's record: status, statistics, errors
  rdfox-pipeline jobs show SALES_2026-01-31_000
  # everything on this machine, with the Airflow UI (or: make airflow)
  rdfox-pipeline local up --airflow

AWS credentials and region come from the usual AWS environment variables or profile; for the local
stack: set -a; . .rdfox-local/airflow.env; set +a

Each command's options and examples: rdfox-pipeline COMMAND --help, rdfox-pipeline COMMAND VERB --help"""

# "<command> [<verb>]" -> (what the example does, the command line). Dataset and job names are made up.
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "jobspec validate": (
        ("check a jobspec as a run would, with the operator's settings from SSM",
         "rdfox-pipeline jobspec validate include/samples/sample.rdfoxjob.json --ssm"),
    ),
    "log parse": (
        ("the inference statistics of a job's rdfox.log",
         "rdfox-pipeline log parse rdfox.log"),
    ),
    "jobs show": (
        ("one job's record as JSON",
         "rdfox-pipeline jobs show SALES_2026-01-31_000"),
    ),
    "jobs list": (
        ("the ten most recently updated jobs whose Neptune load failed",
         "rdfox-pipeline jobs list --status NEPTUNE_LOAD_FAILED --limit 10"),
    ),
    "jobs orphans": (
        ("jobs of SALES left CREATED for over a week (a registration that died), marked SCHEDULE_FAILED",
         "rdfox-pipeline jobs orphans --dataset SALES --mark-failed"),
    ),
    "jobs import-legacy": (
        ("what copying the old system's job table would do, without writing",
         "rdfox-pipeline jobs import-legacy --from-table old-rdfox-jobs --dry-run"),
    ),
    "pod render": (
        ("the Kubernetes pod a jobspec would get, as YAML",
         "rdfox-pipeline pod render include/samples/sample.rdfoxjob.json --ssm"),
    ),
    "reason": (
        ("reason over a local dataset directory as the pod would, without Airflow",
         "rdfox-pipeline reason include/samples/legacy-style --out /tmp/reasoned"),
    ),
    "sample generate": (
        ("a small deterministic transaction dataset in N-Triples",
         "rdfox-pipeline sample generate /tmp/sample --transactions 2000 --seed 1"),
    ),
    "local up": (
        ("the local stack with Airflow's UI (prints the URL and where the admin password is)",
         "rdfox-pipeline local up --airflow"),
        ("the same on a fixed port, without a login",
         "rdfox-pipeline local up --airflow --airflow-port 8080 --no-auth"),
    ),
    "local down": (
        ("stop everything `local up` started and delete its state",
         "rdfox-pipeline local down --purge"),
    ),
    "local status": (
        ("what runs, where, and whether the DAG is paused",
         "rdfox-pipeline local status"),
    ),
    "local demo": (
        ("one whole job on the local stack, then a summary",
         "rdfox-pipeline local demo --transactions 500"),
    ),
    "submit": (
        ("upload a jobspec for SALES with 4 cores and 16 GiB",
         "rdfox-pipeline submit --dataset SALES --cores 4 --memory 16Gi"),
        ("trigger the run in Airflow instead and follow it (the local stack's Airflow by default)",
         "rdfox-pipeline submit --dataset SALES --trigger --wait"),
    ),
    "endpoint list": (
        ("the RDFox endpoints kept up after their jobs",
         "rdfox-pipeline endpoint list --namespace rdfox"),
    ),
    "endpoint start": (
        ("keep a finished job's data queryable for 8 hours",
         "rdfox-pipeline endpoint start job.rdfoxjob.json --job-id SALES_2026-01-31_000 --ttl-hours 8"),
    ),
    "endpoint delete": (
        ("take a job's endpoint down now",
         "rdfox-pipeline endpoint delete SALES_2026-01-31_000"),
    ),
    "endpoint reap": (
        ("delete endpoints past their expiry",
         "rdfox-pipeline endpoint reap"),
    ),
    "neptune load": (
        ("load a job's output into Neptune and wait for the result",
         "rdfox-pipeline neptune load s3://rdfox-pipeline-output/SALES/SALES_2026-01-31_000/data/ --wait"),
    ),
    "neptune status": (
        ("a load's status with its first ten errors",
         "rdfox-pipeline neptune status 0a1b2c3d-4e5f-6789-abcd-ef0123456789 --errors 10"),
    ),
    "neptune list": (
        ("the most recent loads",
         "rdfox-pipeline neptune list --limit 5"),
    ),
    "neptune cancel": (
        ("cancel a load still in the queue or in progress",
         "rdfox-pipeline neptune cancel 0a1b2c3d-4e5f-6789-abcd-ef0123456789"),
    ),
    "settings show": (
        ("every setting a job would run with, and where each comes from",
         "rdfox-pipeline settings show --jobspec my-job.rdfoxjob.json --ssm"),
    ),
    "settings diff-legacy": (
        ("where today's settings differ from the old system's defaults",
         "rdfox-pipeline settings diff-legacy --ssm"),
    ),
}  # fmt: skip


def example_epilog(examples: tuple[tuple[str, str], ...]) -> str:
    lines = ["examples:" if len(examples) > 1 else "example:"]
    for what, command in examples:
        lines += [f"  # {what}", f"  {command}"]
    return "\n".join(lines)


def describe(parser: argparse.ArgumentParser) -> None:
    """Give the top level its description and every verb its example (after all groups registered)."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    groups: dict[str, list[tuple[str, str]]] = {}
    for path, leaf in iter_verbs(parser):
        examples = EXAMPLES.get(path)
        if examples:
            leaf.epilog = example_epilog(examples)
            leaf.formatter_class = argparse.RawDescriptionHelpFormatter
            groups.setdefault(path.split(" ")[0], []).append(examples[0])
    # A group's own --help (e.g. `rdfox-pipeline jobs --help`) shows one example per verb.
    for name, group in _subcommands(parser).items():
        if name in groups and _subcommands(group):
            group.epilog = example_epilog(tuple(groups[name]))
            group.formatter_class = argparse.RawDescriptionHelpFormatter


def iter_verbs(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every runnable verb as ("group verb", its parser): the leaves of the sub-command tree."""
    children = _subcommands(parser)
    if not children:
        return [(" ".join(path), parser)]
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for name, child in children.items():
        found += iter_verbs(child, (*path, name))
    return found


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}
