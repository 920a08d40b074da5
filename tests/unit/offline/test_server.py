import boto3
import pytest

from recflow.offline.server import local_server
from recflow.personalize_local.settings import LocalSettings

# Personalize resources become ACTIVE at once, so deploying the stack on start takes no real seconds.
INSTANT = LocalSettings(resource_seconds=0)


@pytest.fixture
def credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


def test_plain_boto3_reaches_the_local_personalize_through_an_endpoint_url(credentials):
    # Given the local server on a free port
    with local_server(port=0, settings=INSTANT) as url:
        personalize = boto3.client("personalize", endpoint_url=url)
        # When a client creates a dataset group and lists them
        group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
        listed = personalize.list_dataset_groups()["datasetGroups"]
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            personalize.describe_dataset_group(datasetGroupArn=group + "-missing")
    # Then it answered like Personalize, next to the dataset group of the deployed stack
    assert group == "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
    assert sorted(g["datasetGroupArn"] for g in listed) == [
        "arn:aws:personalize:us-east-1:123456789012:dataset-group/recflow",
        group,
    ]
    assert {g["status"] for g in listed} <= {"CREATE PENDING", "ACTIVE"}


def test_the_served_moto_holds_the_deployed_stack_with_its_outputs(credentials):
    # Given the local server
    with local_server(port=0, settings=INSTANT) as url:
        # When a client asks CloudFormation for the stack
        (stack,) = boto3.client("cloudformation", endpoint_url=url).describe_stacks(StackName="recflow")["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        buckets = [b["Name"] for b in boto3.client("s3", endpoint_url=url).list_buckets()["Buckets"]]
    # Then the stack is complete and its outputs name resources that exist
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs["DataBucketName"] in buckets
    assert outputs["DatasetGroupArn"] == "arn:aws:personalize:us-east-1:123456789012:dataset-group/recflow"
