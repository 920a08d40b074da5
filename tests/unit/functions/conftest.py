"""Fixtures of the Lambda function tests: a fake AWS environment, moto, and a Personalize Stubber."""

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


# --- CloudFormation custom resources ---------------------------------------------------------------------
class CloudFormationEndpoint(BaseHTTPRequestHandler):
    """Stands in for the pre-signed S3 URL CloudFormation waits on."""

    received: list[dict]

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(
            {"path": self.path, "content_type": self.headers["Content-Type"], "body": json.loads(body)}
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def cloudformation() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    handler = type("Endpoint", (CloudFormationEndpoint,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response?X-Amz-Signature=example", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record the waits between polls instead of sleeping."""
    waited: list[float] = []
    monkeypatch.setattr("time.sleep", waited.append)
    return waited
