"""The offline stack: template.yaml translated by SAM and deployed by resource type into moto."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from offline_aws import offline_aws

from recflow.offline import sam
from recflow.offline.clock import SimClock
from recflow.offline.deployers import MOTO_DEPLOYS, DeployError, deployed_types, deployers
from recflow.offline.moto_extensions import ResourceRequest
from recflow.offline.runtime import _MOTO_CONFIG, offline_environment
from recflow.offline.stack import TEMPLATE, Stack, deploy_stack
from recflow.offline.template import REGION, Template

ROOT = Path(__file__).resolve().parents[3]
PERSONALIZE = "arn:aws:personalize:us-east-1:123456789012"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    clock = SimClock(scale=0)
    with offline_aws(clock):
        yield deploy_stack("recflow", Template(TEMPLATE, {"Recipe": "aws-sims"}), clock)


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def of_type(stack: Stack, resource_type: str) -> dict[str, str]:
    return {lid: r.physical_id for lid, r in stack.resources.items() if r.resource_type == resource_type}


def test_describe_stacks_answers_with_the_templates_outputs(stack):
    # When a client describes the stack
    (described,) = client("cloudformation").describe_stacks(StackName="recflow")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    # Then it is complete and every output of template.yaml names the resource that was created
    assert described["StackStatus"] == "CREATE_COMPLETE"
    # every output but CampaignArn, whose HasCampaign condition is off by default (CampaignMinTPS 0)
    assert set(outputs) == set(Template(ROOT / "template.yaml").doc["Outputs"]) - {"CampaignArn"}
    assert outputs["DataBucketName"] == stack.resources["DataBucket"].physical_id
    assert outputs["StateMachineArn"] in [
        m["stateMachineArn"] for m in client("stepfunctions").list_state_machines()["stateMachines"]
    ]
    key = described["StackId"].rsplit("/", 1)[1].split("-")[0]  # template.yaml names Personalize resources by it
    assert outputs["SolutionArn"] == f"arn:aws:personalize:us-east-1:123456789012:solution/recflow-{key}-aws-sims"
    assert outputs["InteractionsDatasetArn"] == (
        f"arn:aws:personalize:us-east-1:123456789012:dataset/recflow-{key}/INTERACTIONS"
    )
    assert (
        client("glue")
        .get_job(JobName=outputs["EtlJobName"])["Job"]["Role"]
        .endswith(stack.resources["EtlRole"].physical_id)
    )


def test_each_function_runs_with_its_own_role_holding_the_translated_policies(stack):
    iam, lam = client("iam"), client("lambda")
    functions = of_type(stack, "AWS::Lambda::Function")
    # When each function's configuration is read
    roles = {lid: lam.get_function(FunctionName=name)["Configuration"]["Role"] for lid, name in functions.items()}
    # Then no two functions share a role, and each is the role SAM made for that function
    assert len(functions) == 11 and len(set(roles.values())) == 11
    for function_id, role_arn in roles.items():
        assert role_arn.rsplit("/", 1)[1] == stack.resources[f"{function_id}Role"].physical_id
    # And a role keeps its trust policy, its inline policies and its managed policies as translated
    role_name = stack.resources["StartImportFunctionRole"].physical_id
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    (inline,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=inline)["PolicyDocument"]
    managed = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]]
    assert trust["Statement"][0]["Principal"] == {"Service": ["lambda.amazonaws.com"]}
    assert inline == "StartImportFunctionRolePolicy0"
    assert {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::123456789012:role/{stack.resources['PersonalizeRole'].physical_id}",
        "Condition": {"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}},
    } in document["Statement"]
    assert sorted(managed) == sorted(map(sam.managed_policy_arn, sam.AWS_MANAGED_POLICIES.values()))


def test_the_state_machine_runs_with_its_own_role_and_its_substituted_definition(stack):
    sfn, iam = client("stepfunctions"), client("iam")
    machine = sfn.describe_state_machine(stateMachineArn=stack.output("StateMachineArn"))
    role_name = machine["roleArn"].rsplit("/", 1)[1]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    definition = machine["definition"]
    assert role_name == stack.resources["PipelineStateMachineRole"].physical_id
    assert trust["Statement"][0]["Principal"] == {"Service": ["states.amazonaws.com"]}
    assert len(iam.list_role_policies(RoleName=role_name)["PolicyNames"]) == 10  # 9 LambdaInvokePolicy + Glue/logs
    assert "${" not in definition
    assert f'"{stack.output("EtlJobName")}"' in definition
    check_job_arn = client("lambda").get_function(FunctionName=stack.resources["CheckJobFunction"].physical_id)
    assert check_job_arn["Configuration"]["FunctionArn"] in definition
    assert machine["tracingConfiguration"] == {"enabled": True}


def test_the_raw_upload_rule_comes_from_the_template_and_may_invoke_start_run(stack):
    events, lam = client("events"), client("lambda")
    rule = events.describe_rule(Name=stack.resources["StartRunFunctionRawUpload"].physical_id)
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    start_run = stack.resources["StartRunFunction"].physical_id
    policy = json.loads(lam.get_policy(FunctionName=start_run)["Policy"])
    assert json.loads(rule["EventPattern"])["detail"]["bucket"]["name"] == [stack.output("DataBucketName")]
    assert target["Arn"].endswith(f":function:{start_run}")
    assert {s["Principal"]["Service"] for s in policy["Statement"]} == {"events.amazonaws.com"}
    retrain = events.describe_rule(Name=stack.resources["StartRunFunctionRetrain"].physical_id)
    assert (retrain["State"], retrain["ScheduleExpression"]) == ("DISABLED", "rate(7 days)")


def test_the_bucket_keeps_versioning_and_its_policy(stack):
    s3 = client("s3")
    bucket = stack.output("DataBucketName")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # (moto answers GetBucketNotificationConfiguration without an empty EventBridgeConfiguration; the e2e runs,
    # which start only through the bucket's EventBridge events, show the notifications are on.)
    statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements][0] == "DenyInsecureTransport"
    # And the TLS-only Deny does not refuse the offline (signed, in-process) requests
    s3.put_object(Bucket=bucket, Key="raw/x.dat", Body=b"1::2::3::4\n")


@pytest.mark.parametrize(
    "parameters",
    [{}, {"NotificationEmail": "ops@example.com", "RetrainSchedule": "rate(1 day)", "MinRating": "3.5"}],
)
def test_every_resource_type_of_the_translated_template_has_a_deployer_or_is_listed(parameters):
    # Given template.yaml translated with parameters that switch its conditional resources on and off
    with mock_aws():
        template = Template(ROOT / "template.yaml", parameters)
        packaged = sam.package(template.doc, ROOT, client("s3"))
    translated = sam.translate(packaged, template.parameters, "recflow", REGION)
    types = {r["Type"] for r in translated["Resources"].values()}
    # Then moto's CloudFormation, a recflow deployer or the "nothing offline" list covers each type
    uncovered = sorted(types - deployed_types())
    assert not uncovered, f"template.yaml has resource types the offline stack cannot deploy: {uncovered}"
    assert MOTO_DEPLOYS.isdisjoint(deployers(SimClock()))  # one deployer per type


def test_a_deployer_refuses_a_property_it_would_drop_naming_the_resource():
    request = ResourceRequest(
        logical_id="DataBucket",
        resource_type="AWS::S3::Bucket",
        properties={"WebsiteConfiguration": {"IndexDocument": "index.html"}},
        generated_name="recflow-databucket-x",
        stack_id="stack",
        account_id="123456789012",
        region=REGION,
    )
    with pytest.raises(DeployError) as error:
        deployers(SimClock())["AWS::S3::Bucket"](request)
    assert str(error.value) == (
        "DataBucket (AWS::S3::Bucket) has properties the offline deployment does not carry over: WebsiteConfiguration"
    )


def test_a_resource_that_cannot_be_deployed_fails_the_deployment_with_one_sentence(tmp_path):
    # Given a template whose bucket asks for something the offline deployment does not carry over
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Site:\n"
        "    Type: AWS::S3::Bucket\n"
        "    Properties:\n"
        "      WebsiteConfiguration: {IndexDocument: index.html}\n"
    )
    # When it is deployed
    with offline_environment(), mock_aws(config=_MOTO_CONFIG), pytest.raises(DeployError) as error:
        deploy_stack("site", Template(tmp_path / "template.yaml"), SimClock(scale=0))
    # Then the error names the resource and the property
    assert str(error.value) == (
        "Site (AWS::S3::Bucket) has properties the offline deployment does not carry over: WebsiteConfiguration"
    )
