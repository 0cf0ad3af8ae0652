"""One-shot provisioning of the AWS side of docker-compose.yaml's local stack (moto's server).

``python -m rdfox_local.compose_setup --aws-endpoint http://moto:5000`` creates, idempotently:
the input and output buckets (the input bucket notifies an SQS queue when a ``*.rdfoxjob.json`` lands,
which is what the DAG's asset watcher listens to), the job table with its status index, the SNS topic with
an SQS subscription for reading notifications, and the settings under SSM ``/parameter/pipeline_control/``.
With ``--sample-dir DIR`` it uploads DIR's files to ``s3://<input>/<dataset>/``; ``--sample-dataset NAME``
uploads the sample job (generated transactions, the rules, queries and jobspec of ``include/samples/``) to
``s3://<input>/NAME/``, which is what docs/deploy.md's "trigger the sample job" runs. With ``--k8s-secrets-dir
DIR`` it writes the Kubernetes emulator's secrets (a local RDFox role and generated password) when missing.

boto3 and the plugin's Airflow-free modules only: it runs before Airflow's database exists.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

# The Airflow-free parts of the plugin: one definition of the table and of the settings path.
from rdfox_pipeline.aws.job_table import JobTable
from rdfox_pipeline.domain.settings import SSM_PATH

from rdfox_local.neptune_emulator.role_access import ensure_loader_role, s3_read_policy

log = logging.getLogger("rdfox_local.compose_setup")

JOBSPEC_SUFFIX = ".rdfoxjob.json"
# What of include/samples/ belongs to the sample job: rules, queries and its jobspec.
SAMPLE_SUFFIXES = (".dlog", ".rq", JOBSPEC_SUFFIX)
SAMPLE_TRANSACTIONS = 500
# The pod's password secret as the Kubernetes emulator reads secrets: <dir>/<secret>/<key>.
# A secret's name, not a secret:
RDFOX_PASSWORD_SECRET = "rdfox-password"  # noqa: S105  # nosec B105


def default_samples_dir() -> Path:
    """include/samples/ of the checkout this package lives in."""
    return Path(__file__).resolve().parents[1] / "samples"


@dataclass(frozen=True)
class LocalStackConfig:
    """Names of the local resources; every one can be changed through the environment."""

    region: str = "eu-west-2"
    input_bucket: str = "rdfox-pipeline-input"
    output_bucket: str = "rdfox-pipeline-output"
    job_table: str = "rdfox-pipeline-jobs"
    topic_name: str = "rdfox-pipeline-bulkload"
    notification_queue: str = "rdfox-pipeline-notifications"
    jobspec_queue: str = "rdfox-pipeline-jobspecs"
    # None: no NEPTUNE_CLUSTER_ENDPOINT setting, the `neptune_default` connection alone names the endpoint.
    neptune_endpoint: str | None = "http://neptune-emulator:8182"
    # The load role: created in (moto's) IAM, allowed to read the output bucket, attached to the emulator's
    # cluster (its --attached-role); the emulator refuses loads naming any other role, as Neptune does.
    neptune_iam_role_arn: str = "arn:aws:iam::123456789012:role/rdfox-pipeline-neptune-loader"
    extra_settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LocalStackConfig:
        defaults = cls()

        def pick(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        return cls(
            region=pick("AWS_DEFAULT_REGION", defaults.region),
            input_bucket=pick("INPUT_BUCKET", defaults.input_bucket),
            output_bucket=pick("OUTPUT_BUCKET", defaults.output_bucket),
            job_table=pick("JOB_TABLE_NAME", defaults.job_table),
            topic_name=pick("BULKLOAD_TOPIC_NAME", defaults.topic_name),
            notification_queue=pick("NOTIFICATION_QUEUE_NAME", defaults.notification_queue),
            jobspec_queue=pick("JOBSPEC_QUEUE_NAME", defaults.jobspec_queue),
            neptune_endpoint=pick("NEPTUNE_CLUSTER_ENDPOINT", defaults.neptune_endpoint),
            neptune_iam_role_arn=pick("NEPTUNE_IAM_ROLE_ARN", defaults.neptune_iam_role_arn),
        )


class LocalProvisioner:
    """Creates the local resources through boto3 clients bound to one endpoint."""

    def __init__(self, config: LocalStackConfig, endpoint_url: str | None) -> None:
        self.config = config
        session = boto3.session.Session(region_name=config.region)

        def client(name: str) -> Any:
            return session.client(name, endpoint_url=endpoint_url)

        self.s3 = client("s3")
        self.dynamodb = client("dynamodb")
        self.sns = client("sns")
        self.sqs = client("sqs")
        self.ssm = client("ssm")
        self.iam = client("iam")

    def ensure_bucket(self, name: str) -> None:
        try:
            self.s3.head_bucket(Bucket=name)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.config.region != "us-east-1":  # S3 rejects an explicit us-east-1 constraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
        self.s3.create_bucket(**kwargs)
        log.info("created bucket %s", name)

    def ensure_queue(self, name: str) -> tuple[str, str]:
        """(queue URL, queue ARN); create_queue is idempotent for identical attributes."""
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return url, attributes["QueueArn"]

    def ensure_table(self) -> None:
        # The same definition (keys, status index) that the metadata hook checks at run time.
        JobTable(self.dynamodb, table_name=self.config.job_table, log=log).create_table_if_missing(60.0)

    def ensure_topic(self) -> str:
        # create_topic returns the existing topic's ARN when it exists already.
        topic_arn = self.sns.create_topic(Name=self.config.topic_name)["TopicArn"]
        self.subscribe_reader(topic_arn)
        return topic_arn

    def subscribe_reader(self, topic_arn: str) -> str:
        """A queue subscribed to the topic, to read the notifications from; returns its URL."""
        queue_url, queue_arn = self.ensure_queue(self.config.notification_queue)
        self._allow_sender(queue_url, queue_arn, "sns.amazonaws.com", topic_arn)
        existing = {
            s["Endpoint"]
            for s in self.sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])
        }
        if queue_arn not in existing:
            self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return queue_url

    def read_settings(self) -> dict[str, str]:
        """The settings under SSM_PATH, by name."""
        pages = self.ssm.get_paginator("get_parameters_by_path").paginate(Path=SSM_PATH)
        return {p["Name"][len(SSM_PATH) :]: p["Value"] for page in pages for p in page["Parameters"]}

    def ensure_jobspec_notifications(self) -> str:
        """The input bucket tells the jobspec queue of every new ``*.rdfoxjob.json``; returns its URL."""
        queue_url, queue_arn = self.ensure_queue(self.config.jobspec_queue)
        bucket_arn = f"arn:aws:s3:::{self.config.input_bucket}"
        self._allow_sender(queue_url, queue_arn, "s3.amazonaws.com", bucket_arn)
        self.s3.put_bucket_notification_configuration(
            Bucket=self.config.input_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "Id": "rdfox-pipeline-jobspecs",
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": JOBSPEC_SUFFIX}]}},
                    }
                ]
            },
        )
        return queue_url

    def _allow_sender(self, queue_url: str, queue_arn: str, service: str, source_arn: str) -> None:
        # The queue policy AWS needs for S3/SNS to deliver (moto does not enforce it; real AWS does).
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
                }
            ],
        }
        self.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})

    def put_settings(self, settings: Mapping[str, str]) -> None:
        for name, value in sorted(settings.items()):
            self.ssm.put_parameter(Name=f"{SSM_PATH}{name}", Value=value, Type="String", Overwrite=True)

    def upload_dir(self, directory: Path, dataset: str) -> int:
        count = 0
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            key = f"{dataset}/{path.relative_to(directory).as_posix()}"
            self.s3.upload_file(str(path), self.config.input_bucket, key)
            count += 1
        return count

    def upload_sample(self, dataset: str, samples_dir: Path, transactions: int = SAMPLE_TRANSACTIONS) -> int:
        """The sample job's inputs under ``<dataset>/`` (deterministic: a rerun uploads the same bytes)."""
        from rdfox_local.samplegen import SampleOptions, write_sample

        files = sorted(p for p in samples_dir.iterdir() if p.is_file() and p.name.endswith(SAMPLE_SUFFIXES))
        if not files:
            raise FileNotFoundError(f"{samples_dir} holds no sample rules, queries or jobspec")
        with tempfile.TemporaryDirectory(prefix="rdfox-sample-") as tmp:
            generated = write_sample(tmp, SampleOptions(transactions=transactions))
            for path in [*generated, *files]:
                self.s3.upload_file(str(path), self.config.input_bucket, f"{dataset}/{path.name}")
            return len(generated) + len(files)

    def provision(self) -> dict[str, Any]:
        """Create everything; returns what was set up (names and ARNs, no secrets)."""
        cfg = self.config
        self.ensure_bucket(cfg.input_bucket)
        self.ensure_bucket(cfg.output_bucket)
        jobspec_queue_url = self.ensure_jobspec_notifications()
        self.ensure_table()
        topic_arn = self.ensure_topic()
        # What the user guide's load role may do: list and read the bucket Neptune loads the answers from.
        ensure_loader_role(self.iam, cfg.neptune_iam_role_arn, s3_read_policy([cfg.output_bucket]))
        settings = {
            "AWS_DEFAULT_REGION": cfg.region,
            "JOB_TABLE_NAME": cfg.job_table,
            "BULKLOAD_TOPIC": topic_arn,
            "INPUT_BUCKET": cfg.input_bucket,
            "OUTPUT_BUCKET": cfg.output_bucket,
            "NEPTUNE_CLUSTER_ENDPOINT": cfg.neptune_endpoint,
            "NEPTUNE_IAM_ROLE_ARN": cfg.neptune_iam_role_arn,
            # The explicit "this is the local stack" signal: its pods' images come from the emulator's image
            # map, so no IMAGE_REGISTRY_ALLOWLIST is needed here (everywhere else, an empty one stops pods).
            "LOCAL_STACK": "true",
            **cfg.extra_settings,
        }
        settings = {name: value for name, value in settings.items() if value is not None}
        self.put_settings(settings)
        return {"settings": settings, "jobspec_queue_url": jobspec_queue_url}


def write_k8s_secrets(secrets_dir: Path) -> list[str]:
    """The emulator's secrets, created once (a restart keeps the password); returns the secrets' names."""
    password_dir = secrets_dir / RDFOX_PASSWORD_SECRET
    password_dir.mkdir(parents=True, exist_ok=True)
    (password_dir / "role").write_text("admin")
    password_file = password_dir / "password"
    if not password_file.exists():
        # Created private from the start: the password never exists world-readable, even for a moment.
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(18))
    return sorted(p.name for p in secrets_dir.iterdir() if p.is_dir())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rdfox_local.compose_setup", description=__doc__)
    parser.add_argument("--aws-endpoint", default=os.environ.get("AWS_ENDPOINT_URL"), help="moto's URL")
    parser.add_argument("--sample-dir", type=Path, help="upload this directory's files as a dataset")
    parser.add_argument("--dataset", default="SAMPLE", help="dataset name for --sample-dir (default SAMPLE)")
    parser.add_argument("--sample-dataset", metavar="NAME", help="upload the sample job as dataset NAME")
    parser.add_argument(
        "--samples-dir",
        type=Path,
        default=default_samples_dir(),
        help="the sample job's rules, queries and jobspec (default: include/samples)",
    )
    parser.add_argument("--k8s-secrets-dir", type=Path, help="write the Kubernetes emulator's secrets here")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra SSM setting under /parameter/pipeline_control/ (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    extra: dict[str, str] = {}
    for item in args.setting:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"compose_setup: error: --setting wants NAME=VALUE, got {item!r}", file=sys.stderr)
            return 2
        extra[name] = value
    base = LocalStackConfig.from_env(os.environ)
    config = LocalStackConfig(**{**base.__dict__, "extra_settings": extra})
    provisioner = LocalProvisioner(config, args.aws_endpoint)
    summary = provisioner.provision()
    if args.sample_dir is not None:
        if not args.sample_dir.is_dir():
            print(f"compose_setup: error: --sample-dir {args.sample_dir} is not a directory", file=sys.stderr)
            return 2
        summary["sample_files"] = provisioner.upload_dir(args.sample_dir, args.dataset)
    if args.sample_dataset:
        if not args.samples_dir.is_dir():
            print(f"compose_setup: error: --samples-dir {args.samples_dir} is no directory", file=sys.stderr)
            return 2
        summary["sample_job"] = {
            "dataset": args.sample_dataset,
            "files": provisioner.upload_sample(args.sample_dataset, args.samples_dir),
        }
    if args.k8s_secrets_dir is not None:
        summary["k8s_secrets"] = write_k8s_secrets(args.k8s_secrets_dir)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
