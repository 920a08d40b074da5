"""template.yaml as the offline stack sees it: parameters checked like CloudFormation, translated by SAM."""

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from recflow.offline import sam
from recflow.offline.template import REGION, Template, TemplateError

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"


def test_parameters_are_checked_like_cloudformation_checks_them():
    assert Template(TEMPLATE, {"NumResults": "50"}).parameters["NumResults"] == "50"
    with pytest.raises(TemplateError, match="NumResults=0 is outside 1..500"):
        Template(TEMPLATE, {"NumResults": "0"})
    with pytest.raises(TemplateError, match="Recipe must be one of"):
        Template(TEMPLATE, {"Recipe": "aws-hrnn"})
    with pytest.raises(TemplateError, match=r"MinRating='high' does not match"):
        Template(TEMPLATE, {"MinRating": "high"})
    with pytest.raises(TemplateError, match="unknown template parameter"):
        Template(TEMPLATE, {"Nope": "1"})


@pytest.fixture(scope="module")
def packaged():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        doc = sam.package(Template(TEMPLATE).doc, ROOT, s3)
        objects = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=sam.ARTIFACTS_BUCKET)["Contents"]}
    return doc, objects


def test_packaging_uploads_the_code_the_definition_and_the_glue_script_like_sam_package(packaged):
    # Given template.yaml packaged into an artifacts bucket
    doc, objects = packaged
    code_uri = doc["Globals"]["Function"]["CodeUri"]
    definition = doc["Resources"]["PipelineStateMachine"]["Properties"]["DefinitionUri"]
    script = doc["Resources"]["EtlJob"]["Properties"]["Command"]["ScriptLocation"]
    # Then every local path points at an uploaded object, named by its content's MD5 as sam names it
    assert code_uri.startswith(f"s3://{sam.ARTIFACTS_BUCKET}/") and code_uri.rsplit("/", 1)[1] in objects
    assert definition["Bucket"] == sam.ARTIFACTS_BUCKET and definition["Key"].endswith(".json")
    assert script.startswith(f"s3://{sam.ARTIFACTS_BUCKET}/") and script.endswith(".py")
    assert len(objects) == 3
    # And the original document is left as written
    assert Template(TEMPLATE).doc["Globals"]["Function"]["CodeUri"] == "functions/"


def test_the_translation_gives_each_function_its_own_role_with_the_policies_written(packaged):
    # When the SAM translator turns the packaged template into CloudFormation
    resources = sam.translate(packaged[0], Template(TEMPLATE).parameters, "recflow", REGION)["Resources"]
    functions = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    # Then each function has a role of its own, trusting Lambda, with basic execution and X-Ray attached
    roles = {lid: f["Properties"]["Role"]["Fn::GetAtt"][0] for lid, f in functions.items()}
    assert len(functions) == 11 and len(set(roles.values())) == 11
    for function_id, role_id in roles.items():
        role = resources[role_id]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["lambda.amazonaws.com"]}
        assert set(role["ManagedPolicyArns"]) == {
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }, function_id
    check_job_policy = resources["CheckJobFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert check_job_policy["Statement"][0]["Action"] == [
        "personalize:DescribeDatasetImportJob",
        "personalize:DescribeSolutionVersion",
        "personalize:DescribeBatchInferenceJob",
    ]
    # And the raw/ upload rule and its invoke permission come from the function's EventBridgeRule event
    assert resources["StartRunFunctionRawUpload"]["Type"] == "AWS::Events::Rule"
    assert resources["StartRunFunctionRawUploadPermission"]["Properties"]["Principal"] == "events.amazonaws.com"
