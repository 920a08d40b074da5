"""Fixtures for the local Personalize service: moto S3 and schemas, a simulated clock, a fake recommender."""

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from recflow.offline.clock import SimClock
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer

from .helpers import BUCKET, INTERACTIONS_SCHEMA, REGION, START, Api, FakeRecommender


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def s3(aws) -> Any:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def schema_arn(aws) -> str:
    personalize = boto3.client("personalize", region_name=REGION)
    return personalize.create_schema(name="interactions", schema=json.dumps(INTERACTIONS_SCHEMA))["schemaArn"]


@pytest.fixture
def fake_recommender() -> FakeRecommender:
    return FakeRecommender()


@pytest.fixture
def make_api(aws, schema_arn: str, request: pytest.FixtureRequest):
    # A test that asks for `fake_recommender` gets a service training with it; the others, the real one.
    uses_fake = "fake_recommender" in request.fixturenames
    trainer = request.getfixturevalue("fake_recommender") if uses_fake else default_trainer()

    def make(**settings: Any) -> Api:
        return Api(SimClock(start=START, scale=0), LocalSettings(**settings), schema_arn, trainer)

    return make


@pytest.fixture
def api(make_api) -> Api:
    return make_api()
