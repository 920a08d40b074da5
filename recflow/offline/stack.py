"""Deploys template.yaml into moto as a CloudFormation stack: packaged and translated like `sam deploy`
does it, then created by moto's CloudFormation with recflow's deployers for the types moto lacks.

`recflow local run` and `recflow local serve` both deploy through `deploy_stack`; afterwards the stack
answers `describe_stacks` with the template's Outputs, which is how the runtime finds its resources.
`update_stack` and `delete_stack` take it through the rest of its lifecycle, as CloudFormation would.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from recflow.offline import sam
from recflow.offline.clock import SimClock, WallClock
from recflow.offline.deployers import DeployError, deployers
from recflow.offline.moto_extensions import (
    add_aws_managed_policies,
    cloudformation_deployers,
    roll_back_failed_create,
)
from recflow.offline.template import ACCOUNT_ID, REGION, Template

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_ROOT / "template.yaml"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    resource_type: str
    physical_id: str


@dataclass(frozen=True)
class Stack:
    name: str
    status: str
    outputs: dict[str, str]
    resources: dict[str, StackResource]  # by logical id
    timings: dict[str, float]  # wall seconds of each deployment step

    def output(self, key: str) -> str:
        if key not in self.outputs:
            known = ", ".join(sorted(self.outputs))
            raise DeployError(f"stack {self.name} has no output {key}; template.yaml's Outputs are {known}")
        return self.outputs[key]


def deploy_stack(stack_name: str, template: Template, clock: SimClock | WallClock, s3: Any = None) -> Stack:
    """Create the stack `stack_name` from `template` (its parameters already checked) in the mocked or
    served moto that boto3 reaches. `s3` uploads the artifacts: pass the caller's client to share its
    resolved PutObject model (a quarter second on a fresh client).

    A resource that fails rolls the stack back as CloudFormation does (ROLLBACK_COMPLETE, or
    ROLLBACK_FAILED when a delete fails), then its DeployError is raised."""
    timings: dict[str, float] = {}
    translated = _translated(stack_name, template, s3, timings)
    started = time.perf_counter()
    failures: list[DeployError] = []
    with cloudformation_deployers(deployers(clock, failures)):
        try:
            _cloudformation().create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(translated),
                Parameters=_parameters(template),
                Capabilities=CAPABILITIES,
            )
        except Exception:
            if not failures:
                raise
            # The deployer's sentence, also when a moto server answered with a bare 500.
            with contextlib.suppress(Exception):  # ROLLBACK_FAILED: the first failure is still the news
                roll_back_failed_create(stack_name, ACCOUNT_ID, REGION)
            raise failures[0] from None
    timings["create"] = time.perf_counter() - started
    return describe_stack(stack_name, timings)


def update_stack(stack_name: str, template: Template, clock: SimClock | WallClock, s3: Any = None) -> Stack:
    """Update the stack to `template` and its parameters, each changed resource through its deployer
    (moto applies the changes; a failed update is not rolled back offline, its DeployError is raised)."""
    timings: dict[str, float] = {}
    translated = _translated(stack_name, template, s3, timings)
    started = time.perf_counter()
    failures: list[DeployError] = []
    with cloudformation_deployers(deployers(clock, failures)):
        try:
            _cloudformation().update_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(translated),
                Parameters=_parameters(template),
                Capabilities=CAPABILITIES,
            )
        except Exception:
            if failures:
                raise failures[-1] from None  # moto retries a failed update: the last attempt's sentence
            raise
    timings["update"] = time.perf_counter() - started
    return describe_stack(stack_name, timings)


def delete_stack(stack_name: str, clock: SimClock | WallClock) -> None:
    """Delete the stack: each resource through its deployer (see deployers.py for what stays in moto)."""
    failures: list[DeployError] = []
    with cloudformation_deployers(deployers(clock, failures)):
        try:
            _cloudformation().delete_stack(StackName=stack_name)
        except Exception:
            if failures:
                raise failures[-1] from None
            raise


def _translated(stack_name: str, template: Template, s3: Any, timings: dict[str, float]) -> dict[str, Any]:
    started = time.perf_counter()
    packaged = sam.package(template.doc, template.root, s3 or _client("s3"))
    timings["package"] = time.perf_counter() - started
    translated = sam.translate(packaged, template.parameters, stack_name, REGION)
    timings["translate"] = time.perf_counter() - started - timings["package"]
    add_aws_managed_policies(ACCOUNT_ID, REGION, sam.AWS_MANAGED_POLICIES.values())
    return translated


def _parameters(template: Template) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in template.parameters.items()]


def _cloudformation() -> Any:
    # One attempt: a retried CreateStack would only meet the half-created stack (AlreadyExists).
    return _client("cloudformation", Config(retries={"total_max_attempts": 1}))


def describe_stack(stack_name: str, timings: dict[str, float] | None = None) -> Stack:
    cloudformation = _client("cloudformation")
    (description,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    summaries = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    resources = {
        s["LogicalResourceId"]: StackResource(s["LogicalResourceId"], s["ResourceType"], s["PhysicalResourceId"])
        for s in summaries
        if s["LogicalResourceId"]  # moto lists a resource its Condition left out with empty fields
    }
    return Stack(
        name=stack_name,
        status=description["StackStatus"],
        outputs={o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])},
        resources=resources,
        timings=timings or {},
    )


def _client(service: str, config: Config | None = None) -> Any:
    return boto3.client(service, region_name=REGION, config=config)
