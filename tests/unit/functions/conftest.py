"""Fixtures of the Lambda function tests: a fake AWS environment, moto, and a Personalize Stubber."""

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from lambda_env import BUCKET, ENVIRONMENT, REGION, TOPIC_NAME
from moto import mock_aws
from recflow_lambda.clients import clear_clients, personalize_client
from recflow_lambda.observability import metrics


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The Lambda environment of template.yaml's Globals, with fake credentials and no real endpoint."""
    # Nothing may reach a real account: no profile, no endpoint override, no credentials file.
    for name in [name for name in os.environ if name == "AWS_PROFILE" or name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    return dict(ENVIRONMENT)


@pytest.fixture(autouse=True)
def fresh_clients_and_metrics() -> Iterator[None]:
    """Each test builds its own boto3 clients (inside its own moto mock) and starts with no metrics."""
    clear_clients()
    metrics.clear_metrics()
    yield
    clear_clients()
    metrics.clear_metrics()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def bucket(aws: None) -> str:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def topic_messages(aws: None):
    """Create the notification topic; return a function reading what was published to it."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    queue_url = sqs.create_queue(QueueName="recflow-notifications-test")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"])

    def read() -> list[dict[str, Any]]:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [
            {"subject": body.get("Subject"), "message": body["Message"]}
            for body in (json.loads(message["Body"]) for message in received)
        ]

    return read


@pytest.fixture
def personalize_stubber() -> Iterator[Stubber]:
    """A Stubber on the exact Personalize client the adapter uses; every queued call must happen."""
    with Stubber(personalize_client()) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
