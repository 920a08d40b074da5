"""Find the stack's resources from its Outputs, with boto3's usual credentials, region and endpoint."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

DEFAULT_STACK = "recflow"
REQUIRED_OUTPUTS = ("DataBucketName", "StateMachineArn", "SolutionArn")
# Fail fast on an unreachable endpoint instead of botocore's default retries with backoff.
_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"})


class OperatorError(Exception):
    """An expected failure, told to the user in one sentence."""


def default_stack_name(samconfig: Path = Path("samconfig.toml")) -> str:
    """samconfig.toml's default stack_name (deploy parameters first, then global), else "recflow"."""
    if not samconfig.is_file():
        return DEFAULT_STACK
    default = tomllib.loads(samconfig.read_text()).get("default", {})
    for command in ("deploy", "global"):
        name = default.get(command, {}).get("parameters", {}).get("stack_name")
        if isinstance(name, str) and name:
            return name
    return DEFAULT_STACK


@dataclass
class Stack:
    name: str
    outputs: dict[str, str]
    session: Any
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url, config=_CONFIG)
        return self._clients[service]

    @property
    def bucket(self) -> str:
        return self.outputs["DataBucketName"]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    @property
    def solution_arn(self) -> str:
        return self.outputs["SolutionArn"]


@contextmanager
def aws_errors(endpoint_url: str | None) -> Iterator[None]:
    """Turn botocore's connection and credential errors into one sentence each."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise OperatorError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(any values will do against recflow local serve)"
        ) from None
    except NoRegionError:
        raise OperatorError("no AWS region configured: pass --region or set AWS_REGION") from None
    except EndpointConnectionError as exc:
        raise OperatorError(
            f"cannot reach {exc.kwargs.get('endpoint_url') or endpoint_url}: is the endpoint right "
            "(--endpoint-url or AWS_ENDPOINT_URL) and is the server running?"
        ) from None


def open_stack(name: str, endpoint_url: str | None = None, region: str | None = None) -> Stack:
    """Describe the stack and keep its Outputs; a missing stack or output is an OperatorError."""
    session = boto3.session.Session(region_name=region)
    stack = Stack(name=name, outputs={}, session=session, endpoint_url=endpoint_url)
    with aws_errors(endpoint_url):
        try:
            described = stack.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                # The client's endpoint also reflects AWS_ENDPOINT_URL and the config file.
                where = stack.client("cloudformation").meta.endpoint_url
                raise OperatorError(
                    f"stack {name!r} does not exist in {where}: deploy it (sam deploy) or pass --stack"
                ) from None
            raise
    stack.outputs = {o["OutputKey"]: o["OutputValue"] for o in described[0].get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if key not in stack.outputs]
    if missing:
        raise OperatorError(f"stack {name!r} has no output {', '.join(missing)}: is it a recflow stack?")
    return stack
