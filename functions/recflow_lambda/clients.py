"""One cached boto3 client per service.

Every adapter gets its client here, so a test can attach a botocore Stubber to the exact client the code
uses. ``clear_clients()`` drops them: tests call it around each test, and the offline runtime calls it
when it points boto3 at another endpoint (a client keeps the endpoint and credentials it was built with).
"""

import functools

import boto3
from botocore.client import BaseClient
from botocore.config import Config

# Standard mode retries throttling and transient errors a few times before the state machine's own
# retries take over.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, user_agent_extra="recflow")


def _client(service: str) -> BaseClient:
    # A session per client: creating clients from the shared default session is not thread-safe.
    return boto3.session.Session().client(service, config=_CONFIG)


@functools.cache
def personalize_client() -> BaseClient:
    return _client("personalize")


@functools.cache
def s3_client() -> BaseClient:
    return _client("s3")


@functools.cache
def sns_client() -> BaseClient:
    return _client("sns")


@functools.cache
def stepfunctions_client() -> BaseClient:
    return _client("stepfunctions")


def clear_clients() -> None:
    """Forget every cached client; the next call builds a new one from the current environment."""
    for getter in (personalize_client, s3_client, sns_client, stepfunctions_client):
        getter.cache_clear()
