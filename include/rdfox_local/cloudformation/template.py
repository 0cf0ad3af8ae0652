"""Reading deploy/cloudformation/*.yaml and taking the IAM policies out of pipeline.yaml.

The template is the one source of the pipeline's IAM policies. ``iam_policies()`` gives each as the JSON
document of deploy/iam/ (``python -m rdfox_local.cloudformation.iam_export`` writes them), with the template's
references as ``${Name}`` placeholders (docs/deploy.md explains each): ``Fn::Sub`` strings keep their
variables, renamed where the template's name is not the placeholder's (``${AWS::Region}`` -> ``${Region}``,
``${JobTable}`` -> ``${JobTableName}``, ...); ``Fn::If`` takes its second branch, the one naming the
parameter (the first is the generated default name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_DIR = Path(__file__).resolve().parents[3] / "deploy" / "cloudformation"
PIPELINE_TEMPLATE = TEMPLATE_DIR / "pipeline.yaml"
MWAA_TEMPLATE = TEMPLATE_DIR / "mwaa.yaml"

# Template variable -> the placeholder deploy/iam/ and docs/deploy.md use.
PLACEHOLDER_NAMES = {
    "AWS::Region": "Region",
    "AWS::AccountId": "AccountId",
    "JobTable": "JobTableName",
    "BulkloadTopic.TopicName": "BulkloadTopicName",
    "JobspecQueue.QueueName": "JobspecQueueName",
    "MwaaBucketName": "MwaaBucket",
}
# deploy/iam/<file> -> (logical id, where in the resource the document is).
POLICY_FILES: dict[str, tuple[str, str]] = {
    "mwaa-execution-role-trust.json": ("MwaaExecutionRole", "trust"),
    "mwaa-execution-role-base-policy.json": ("MwaaBasePolicy", "managed"),
    "mwaa-execution-role-pipeline-policy.json": ("MwaaPipelinePolicy", "managed"),
    "neptune-loader-role-trust.json": ("NeptuneLoaderRole", "trust"),
    "neptune-loader-role-policy.json": ("NeptuneLoaderRole", "inline"),
    "rdfox-pod-irsa-trust.json": ("PodRole", "trust"),
    "rdfox-pod-irsa-policy.json": ("PodRole", "inline"),
    "operator-cli-policy.json": ("OperatorCliPolicy", "managed"),
    "operator-cli-legacy-import-policy.json": ("OperatorLegacyImportPolicy", "managed"),
}
_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


class TemplateError(ValueError):
    """The template is not what this module expects; the message names the resource."""


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, !GetAtt, !If, ...) as their long forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = PIPELINE_TEMPLATE) -> dict[str, Any]:
    """The template as plain data, intrinsic functions in their long form."""
    loader = _Loader(path.read_text(encoding="utf-8"))  # a SafeLoader: plain data and the tags above only
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return data


def _placeholders(text: str) -> str:
    return _VARIABLE.sub(lambda m: "${" + PLACEHOLDER_NAMES.get(m.group(1), m.group(1)) + "}", text)


def to_placeholders(value: Any, where: str) -> Any:
    """A policy document with its intrinsic functions replaced by ``${Placeholder}`` strings."""
    if isinstance(value, list):
        return [to_placeholders(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Sub"}:
        body = value["Fn::Sub"]
        if not isinstance(body, str):
            raise TemplateError(f"{where}: use Fn::Sub with a string in policies, not a variable map")
        return _placeholders(body)
    if set(value) == {"Fn::If"}:
        return to_placeholders(value["Fn::If"][2], where)
    if set(value) == {"Ref"}:
        return "${" + PLACEHOLDER_NAMES.get(value["Ref"], value["Ref"]) + "}"
    if len(value) == 1 and next(iter(value)).startswith("Fn::"):
        raise TemplateError(f"{where}: {next(iter(value))} in a policy; write it as an Fn::Sub string")
    return {k: to_placeholders(v, where) for k, v in value.items()}


def _document(resource: Mapping[str, Any], logical_id: str, part: str) -> Any:
    properties = resource.get("Properties", {})
    if part == "trust":
        return properties["AssumeRolePolicyDocument"]
    if part == "managed":
        return properties["PolicyDocument"]
    (inline,) = properties["Policies"]  # one inline policy per role: its file
    return inline["PolicyDocument"]


def iam_policies(template: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """deploy/iam/<file> -> its policy document, taken from pipeline.yaml."""
    template = template if template is not None else load_template()
    resources = template["Resources"]
    out: dict[str, dict[str, Any]] = {}
    for name, (logical_id, part) in POLICY_FILES.items():
        if logical_id not in resources:
            raise TemplateError(f"pipeline.yaml has no resource {logical_id} (for deploy/iam/{name})")
        where = f"{logical_id} ({name})"
        document = to_placeholders(_document(resources[logical_id], logical_id, part), where)
        if isinstance(document, str):  # a JSON string under Fn::Sub (keys that name a parameter)
            document = json.loads(document)
        out[name] = document
    return out


def render_policy(document: Mapping[str, Any]) -> str:
    """The bytes of a deploy/iam/ file."""
    return json.dumps(document, indent=2) + "\n"
