"""deploy/cloudformation/: cfn-lint clean, and pipeline.yaml deploys into moto's CloudFormation with what the
pipeline needs (issue 15). Its IAM policies are checked against the code in tests/unit/test_iam_policies.py.

One moto server for the module (the deploy writes fixed SSM names, so it must not share the session's).
Both tests are slow (~10 s each on an idle machine): moto's CloudFormation imports every moto model, and
cfn-lint loads every resource schema.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from rdfox_local.cloudformation.local_deploy import MOTO_GAPS, deploy_pipeline_stack
from rdfox_local.cloudformation.template import MWAA_TEMPLATE, PIPELINE_TEMPLATE, iam_policies, load_template

from tests.conftest import TEST_REGION, free_port, start_process, stop_process, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PARAMETERS = {
    "NamePrefix": "cfn-test",
    "InputBucketName": "cfn-test-input",
    "OutputBucketName": "cfn-test-output",
    "NeptuneClusterEndpoint": "https://graph.cluster-abc.eu-west-2.neptune.amazonaws.com:8182",
    "NeptuneClusterId": "graph",
    "NeptuneClusterResourceId": "cluster-ABCDEF",
    "EksClusterName": "rdfox-eks",
}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto-cfn") / "moto.log"
    proc = start_process([sys.executable, "-m", "rdfox_local.moto_atomic", "-p", str(port)], log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", proc=proc)
        session = boto3.session.Session(region_name=TEST_REGION)

        def client(name: str) -> Any:
            return session.client(name, endpoint_url=url)

        outputs = deploy_pipeline_stack(client, PARAMETERS, stack_name="cfn-test")
        yield client, outputs
    finally:
        stop_process(proc)


def test_the_templates_are_cfn_lint_clean() -> None:
    from cfnlint.api import ManualArgs, lint_file

    for template in (PIPELINE_TEMPLATE, MWAA_TEMPLATE):
        matches = lint_file(template, config=ManualArgs(regions=[TEST_REGION]))
        assert not matches, [str(m) for m in matches]


def test_pipeline_template_deploys_what_the_settings_need(deployed: tuple[Any, dict[str, str]]) -> None:
    from rdfox_pipeline.aws.job_table import JobTable
    from rdfox_pipeline.domain.settings import SSM_PATH

    client, outputs = deployed
    # Every name and ARN a deployment is configured with is an output.
    assert outputs["InputBucketName"] == "cfn-test-input" and outputs["JobTableName"] == "cfn-test-jobs"
    for key in ("BulkloadTopicArn", "JobspecQueueUrl", "NeptuneLoaderRoleArn", "PodRoleArn",
                "MwaaExecutionRoleArn", "MwaaBucketName", "OperatorCliPolicyArn"):  # fmt: skip
        assert outputs[key], key
    # The settings the tasks read, from the template's parameters and resources.
    ssm = client("ssm")
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=SSM_PATH)
    settings = {p["Name"][len(SSM_PATH) :]: p["Value"] for page in pages for p in page["Parameters"]}
    assert settings == {
        "AWS_DEFAULT_REGION": TEST_REGION,
        "CLUSTER_NAME": "rdfox-eks",
        "JOB_TABLE_NAME": "cfn-test-jobs",
        "INPUT_BUCKET": "cfn-test-input",
        "OUTPUT_BUCKET": "cfn-test-output",
        "BULKLOAD_TOPIC": outputs["BulkloadTopicArn"],
        "NEPTUNE_CLUSTER_ENDPOINT": PARAMETERS["NeptuneClusterEndpoint"],
        "NEPTUNE_IAM_ROLE_ARN": outputs["NeptuneLoaderRoleArn"],
        "KUBERNETES_NAMESPACE": "rdfox",
        "SERVICE_ACCOUNT": "rdfox-pipeline",
    }
    # The job table is the one the metadata hook checks at run time (keys, status index), with PITR.
    dynamodb = client("dynamodb")
    JobTable(dynamodb, table_name="cfn-test-jobs").check_table()
    backups = dynamodb.describe_continuous_backups(TableName="cfn-test-jobs")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    # Only jobspec uploads reach the queue; the queue has its dead-letter queue and admits the bucket only.
    s3, sqs = client("s3"), client("sqs")
    s3.put_object(Bucket="cfn-test-input", Key="DS/data.nt", Body=b"")
    s3.put_object(Bucket="cfn-test-input", Key="DS/job.rdfoxjob.json", Body=b"{}")
    queue_url = sqs.get_queue_url(QueueName="cfn-test-jobspecs")["QueueUrl"]
    keys = []
    for _ in range(3):
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []):
            keys += [r["s3"]["object"]["key"] for r in json.loads(message["Body"]).get("Records", [])]
    assert [k.replace("%2F", "/") for k in keys] == ["DS/job.rdfoxjob.json"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(":cfn-test-jobspecs-dlq")
    (statement,) = json.loads(attributes["Policy"])["Statement"]
    assert statement["Condition"]["ArnEquals"] == {"aws:SourceArn": "arn:aws:s3:::cfn-test-input"}
    # Input: versioned, encrypted, public access blocked; output encrypted.
    assert s3.get_bucket_versioning(Bucket="cfn-test-input")["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket="cfn-test-input")["PublicAccessBlockConfiguration"].values())
    for bucket in ("cfn-test-input", "cfn-test-output"):
        assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]


def test_the_deployed_roles_carry_the_templates_policies(deployed: tuple[Any, dict[str, str]]) -> None:
    client, outputs = deployed
    iam = client("iam")
    account = outputs["PodRoleArn"].split(":")[4]
    values = {
        "${Region}": TEST_REGION, "${AccountId}": account, "${InputBucket}": "cfn-test-input",
        "${OutputBucket}": "cfn-test-output", "${JobTableName}": "cfn-test-jobs",
        "${BulkloadTopicName}": "cfn-test-bulkload", "${JobspecQueueName}": "cfn-test-jobspecs",
        "${EksClusterName}": "rdfox-eks", "${NeptuneClusterId}": "graph",
        "${NeptuneClusterResourceId}": "cluster-ABCDEF", "${MwaaEnvironmentName}": "rdfox-pipeline",
        "${MwaaBucket}": outputs["MwaaBucketName"],
    }  # fmt: skip

    def expected(name: str) -> dict[str, Any]:
        text = json.dumps(iam_policies()[name])
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return json.loads(text)

    arn = outputs["OperatorCliPolicyArn"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    assert document == expected("operator-cli-policy.json")
    attached = iam.list_attached_role_policies(RoleName="cfn-test-mwaa-execution")["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == {"cfn-test-mwaa-base", "cfn-test-mwaa-pipeline"}
    # IAM's API answers JSON, which boto3 decodes: moto's CloudFormation stored the dict's repr (a gap
    # local_deploy fills), which no IAM reader parses; the Neptune emulator reads the loader role's.
    inline = iam.get_role_policy(RoleName="cfn-test-pod", PolicyName="rdfox-pod")["PolicyDocument"]
    assert inline == expected("rdfox-pod-irsa-policy.json")
    loader = iam.get_role(RoleName="cfn-test-neptune-loader")["Role"]
    trusted = [s["Principal"] for s in loader["AssumeRolePolicyDocument"]["Statement"]]
    assert {"Service": "rds.amazonaws.com"} in trusted
    for name in iam.list_role_policies(RoleName="cfn-test-neptune-loader")["PolicyNames"]:
        document = iam.get_role_policy(RoleName="cfn-test-neptune-loader", PolicyName=name)["PolicyDocument"]
        assert isinstance(document, dict) and document["Statement"]
    # The legacy import policy exists only when the old table is named.
    assert "OperatorLegacyImportPolicyArn" not in outputs


def test_every_moto_gap_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "local-stack.md").read_text()
    for gap in MOTO_GAPS:
        assert f"`{gap}`" in doc, f"docs/local-stack.md does not list {gap}"
    # Every resource type of the template is either deployed by moto or a listed gap.
    from moto.cloudformation.parsing import get_model_map

    types = {r["Type"] for r in load_template()["Resources"].values()}
    missing = {t for t in types if t not in get_model_map() and t not in MOTO_GAPS}
    assert not missing, missing
