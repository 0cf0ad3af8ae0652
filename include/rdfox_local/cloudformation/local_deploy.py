"""Deploy pipeline.yaml into moto's CloudFormation, then create what moto's CloudFormation leaves out.

moto deploys the template's buckets, queues, topic, table, SSM parameters and IAM roles and policies, but
skips some resource types and properties (docs/local-stack.md, "What moto does not deploy"). For each,
``fill_moto_gaps`` makes the same API call CloudFormation would, with the template's own values: the
template stays the one source, and what the tests run against is what gets deployed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from rdfox_local.cloudformation.template import PIPELINE_TEMPLATE, TemplateError, load_template

log = logging.getLogger("rdfox_local.cloudformation")

STACK_NAME = "rdfox-pipeline"
# What moto's CloudFormation skips (resource types it has no model for, properties its models ignore).
MOTO_GAPS = {
    "AWS::S3::Bucket NotificationConfiguration": "the input bucket's jobspec notification to the queue",
    "AWS::S3::Bucket VersioningConfiguration": "versioning of the input bucket",
    "AWS::S3::Bucket PublicAccessBlockConfiguration": "the buckets' public access block",
    "AWS::S3::Bucket OwnershipControls": "the buckets' object ownership (ACLs disabled)",
    "AWS::S3::BucketPolicy": "the buckets' TLS-only policies: NOT applied locally (moto enforces bucket "
    "policies and the local stack speaks plain HTTP, so the Deny would refuse every request)",
    "AWS::SQS::QueuePolicy": "the jobspec queue's policy (the input bucket may send)",
    "AWS::DynamoDB::Table PointInTimeRecoverySpecification": "the job table's point-in-time recovery",
    "AWS::SNS::Subscription": "the optional e-mail subscription (the local stack has none)",
    "AWS::IAM::Role ManagedPolicyArns": "the MWAA execution role's managed policies",
    "AWS::IAM::Role Policies, AssumeRolePolicyDocument": "the roles' inline and trust policies are stored "
    "as Python text, not JSON (IAM's API then returns a document no IAM reader parses): put again as JSON",
}

# Resource type -> the properties fill_moto_gaps applies.
APPLIED = {
    "AWS::S3::Bucket": (
        "NotificationConfiguration",
        "VersioningConfiguration",
        "PublicAccessBlockConfiguration",
        "OwnershipControls",
    ),
    "AWS::S3::BucketPolicy": (),
    "AWS::SQS::QueuePolicy": ("Queues", "PolicyDocument"),
    "AWS::DynamoDB::Table": ("PointInTimeRecoverySpecification",),
    "AWS::SNS::Subscription": ("TopicArn", "Protocol", "Endpoint"),
    "AWS::IAM::Role": ("ManagedPolicyArns", "Policies", "AssumeRolePolicyDocument"),
}


class Resolver:
    """Evaluates the intrinsic functions of the template's properties against a deployed stack."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        physical_ids: Mapping[str, str],
        attributes: Mapping[tuple[str, str], str],
        pseudo: Mapping[str, str],
    ) -> None:
        defaults = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
        self.refs = {**defaults, **parameters, **physical_ids, **pseudo}
        self.attributes = attributes
        self.conditions = template.get("Conditions", {})

    def condition(self, name: str) -> bool:
        return bool(self.value(self.conditions[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                return self._attribute(arg[0], arg[1])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not evaluated locally")
        return {k: self.value(v) for k, v in node.items()}

    def _ref(self, name: str) -> str:
        if name not in self.refs:
            raise TemplateError(f"Ref {name}: no such parameter or deployed resource")
        return self.refs[name]

    def _attribute(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) not in self.attributes:
            raise TemplateError(f"GetAtt {logical_id}.{attribute} is not known locally")
        return self.attributes[(logical_id, attribute)]

    def _sub(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if "." in name and not name.startswith("AWS::"):
                return self._attribute(*name.split(".", 1))
            return self._ref(name)

        return re.sub(r"\$\{([^}!]+)\}", one, text)


def _api_notification(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """S3's NotificationConfiguration from CloudFormation's spelling (queues: all the template has)."""
    queues = []
    for entry in configuration.get("QueueConfigurations", []):
        rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        queues.append(
            {
                "QueueArn": entry["Queue"],
                "Events": [entry["Event"]],
                "Filter": {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}},
            }
        )
    return {"QueueConfigurations": queues}


def _policy_json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _fill_role(iam: Any, logical_id: str, role: str, properties: Mapping[str, Any]) -> list[str]:
    done: list[str] = []
    for policy_arn in properties.get("ManagedPolicyArns", ()):
        iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
    if properties.get("ManagedPolicyArns"):
        done.append(f"{logical_id}: managed policies attached")
    if "AssumeRolePolicyDocument" in properties:
        doc = _policy_json(properties["AssumeRolePolicyDocument"])
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=doc)
    for policy in properties.get("Policies", ()):
        document = _policy_json(policy["PolicyDocument"])
        iam.put_role_policy(RoleName=role, PolicyName=policy["PolicyName"], PolicyDocument=document)
    done.append(f"{logical_id}: trust and inline policies as JSON")
    return done


def fill_moto_gaps(
    clients: Callable[[str], Any], template: Mapping[str, Any], resolver: Resolver
) -> list[str]:
    """Apply what moto skipped; returns one line per gap filled (for the log)."""
    s3, sqs, dynamodb = clients("s3"), clients("sqs"), clients("dynamodb")
    done: list[str] = []
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        kind = resource["Type"]
        # Only what is applied below is evaluated (moto knows the other properties' values itself).
        wanted = APPLIED.get(kind, ())
        properties = {k: resolver.value(v) for k, v in resource.get("Properties", {}).items() if k in wanted}
        if kind == "AWS::S3::Bucket":
            bucket = resolver.refs[logical_id]
            if "NotificationConfiguration" in properties:
                s3.put_bucket_notification_configuration(
                    Bucket=bucket,
                    NotificationConfiguration=_api_notification(properties["NotificationConfiguration"]),
                )
                done.append(f"{logical_id}: notification configuration")
            if "VersioningConfiguration" in properties:
                s3.put_bucket_versioning(
                    Bucket=bucket, VersioningConfiguration=properties["VersioningConfiguration"]
                )
                done.append(f"{logical_id}: versioning")
            if "PublicAccessBlockConfiguration" in properties:
                s3.put_public_access_block(
                    Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
                )
                done.append(f"{logical_id}: public access block")
            if "OwnershipControls" in properties:
                s3.put_bucket_ownership_controls(
                    Bucket=bucket, OwnershipControls=properties["OwnershipControls"]
                )
                done.append(f"{logical_id}: ownership controls")
        elif kind == "AWS::S3::BucketPolicy":
            done.append(f"{logical_id}: left out (TLS-only; the local stack is plain HTTP)")
        elif kind == "AWS::SQS::QueuePolicy":
            for queue_url in properties["Queues"]:
                sqs.set_queue_attributes(
                    QueueUrl=queue_url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
                )
            done.append(f"{logical_id}: queue policy")
        elif kind == "AWS::DynamoDB::Table" and "PointInTimeRecoverySpecification" in properties:
            dynamodb.update_continuous_backups(
                TableName=resolver.refs[logical_id],
                PointInTimeRecoverySpecification=properties["PointInTimeRecoverySpecification"],
            )
            done.append(f"{logical_id}: point-in-time recovery")
        elif kind == "AWS::IAM::Role":
            done += _fill_role(clients("iam"), logical_id, resolver.refs[logical_id], properties)
        elif kind == "AWS::SNS::Subscription":
            clients("sns").subscribe(
                TopicArn=properties["TopicArn"],
                Protocol=properties["Protocol"],
                Endpoint=properties["Endpoint"],
            )
            done.append(f"{logical_id}: subscription")
    return done


def deploy_pipeline_stack(
    clients: Callable[[str], Any],
    parameters: Mapping[str, str],
    *,
    stack_name: str = STACK_NAME,
    template_path: Path = PIPELINE_TEMPLATE,
) -> dict[str, str]:
    """Create the stack (or reuse it), fill moto's gaps; returns the stack's outputs."""
    cloudformation = clients("cloudformation")
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ValidationError":  # "Stack ... does not exist"
            raise
        stack = None
    if (
        stack is not None
        and stack["StackStatus"].endswith("_COMPLETE")
        and "ROLLBACK" not in stack["StackStatus"]
    ):
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if stack is not None:
        cloudformation.delete_stack(StackName=stack_name)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=template_path.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    summaries = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    physical = {
        s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries if s.get("LogicalResourceId")
    }
    region = cloudformation.meta.region_name
    account = clients("sts").get_caller_identity()["Account"]
    resolver = Resolver(
        load_template(template_path),
        parameters,
        physical,
        {("JobspecQueue", "Arn"): outputs["JobspecQueueArn"]},
        {"AWS::Region": region, "AWS::AccountId": account, "AWS::NoValue": "", "AWS::StackName": stack_name},
    )
    for line in fill_moto_gaps(clients, load_template(template_path), resolver):
        log.info("moto gap filled: %s", line)
    return outputs
