import boto3
import pytest

from recflow.offline.server import local_server


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
    with local_server(port=0) as url:
        personalize = boto3.client("personalize", endpoint_url=url)
        # When a client creates a dataset group and a solution with automatic training off
        group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
        listed = personalize.list_dataset_groups()["datasetGroups"]
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            personalize.describe_dataset_group(datasetGroupArn=group + "-missing")
    # Then it answered like Personalize
    assert group == "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
    assert [g["datasetGroupArn"] for g in listed] == [group]
    assert listed[0]["status"] in {"CREATE PENDING", "ACTIVE"}
