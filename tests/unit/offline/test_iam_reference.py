"""The offline IAM's resource ARNs and template.yaml's Resource elements, against the IAM service authorization
reference (parliament's iam_definition.json: which resource types each action takes, their ARN formats)."""

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import parliament
import pytest

from recflow.offline.authorization import IAM_ACTIONS, PASSED_ROLES, RESOURCE_ARNS
from recflow.offline.stack import TEMPLATE
from recflow.offline.template import Template

ACCOUNT, REGION = "123456789012", "us-east-1"
# Request parameters as the pipeline sends them (names from botocore's models).
SAMPLE_PARAMETERS = {
    "jobName": "recflow-run-1-import",
    "name": "recflow-5b1d0f70-aws-sims",
    "datasetImportJobArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-import-job/recflow-run-1-import",
    "solutionArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/recflow-5b1d0f70-aws-sims",
    "solutionVersionArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/recflow-5b1d0f70-aws-sims/1a2b3c4d",
    "batchInferenceJobArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:batch-inference-job/recflow-run-1-batch",
    "filterArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:filter/recflow-5b1d0f70-exclude-seen",
    "campaignArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:campaign/recflow-5b1d0f70",
    "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:recflow-Pipeline-1",
    "executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:recflow-Pipeline-1:run-1",
    "JobName": "recflow-EtlJob-1",
    "FunctionName": "recflow-CheckDataFunction-1",
    "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:recflow-NotificationTopic-1",
}


@cache
def _reference() -> dict[str, Any]:
    path = Path(parliament.__file__).parent / "iam_definition.json"
    return {service["prefix"]: service for service in json.loads(path.read_text())}


def _privilege(action: str) -> dict[str, Any]:
    prefix, name = action.split(":")
    found = [p for p in _reference()[prefix]["privileges"] if p["privilege"] == name]
    assert found, f"{action} is not an action of the service authorization reference"
    return found[0]


def _arn_pattern(prefix: str, resource_type: str) -> re.Pattern[str]:
    (resource,) = [r for r in _reference()[prefix]["resources"] if r["resource"] == resource_type.rstrip("*")]
    text = re.escape(resource["arn"])
    text = text.replace(re.escape("${Partition}"), "aws").replace(re.escape("${Region}"), REGION)
    text = text.replace(re.escape("${Account}"), ACCOUNT)
    return re.compile(re.sub(r"\\\$\\\{\w+\\\}", ".+", text))


@pytest.mark.parametrize("action", sorted(RESOURCE_ARNS))
def test_each_action_is_authorized_on_an_arn_of_a_resource_type_the_reference_gives_it(action: str) -> None:
    # Given the action's resource types in the reference, When the offline IAM names the request's resource
    types = [r["resource_type"] for r in _privilege(action)["resource_types"] if r["resource_type"]]
    arn_of = RESOURCE_ARNS[action]
    if arn_of is None:
        # Then an action without a resource type is evaluated on "*"
        assert types == [], f"{action} takes {types}: name its ARN in RESOURCE_ARNS"
        return
    arn = arn_of(SAMPLE_PARAMETERS, ACCOUNT, REGION)
    # Then the ARN has the format of one of them
    prefix = action.split(":")[0]
    assert any(_arn_pattern(prefix, t).fullmatch(arn) for t in types), f"{arn} is none of {types}"


def test_api_operations_named_differently_map_to_actions_of_the_reference() -> None:
    for action in [*IAM_ACTIONS.values(), *PASSED_ROLES, "iam:PassRole"]:
        assert _privilege(action)["privilege"] == action.split(":")[1]
    # The condition key the offline IAM sets on iam:PassRole is one the reference lists for it.
    keys = {k for r in _privilege("iam:PassRole")["resource_types"] for k in r["condition_keys"]}
    assert "iam:PassedToService" in keys


def _function_statements() -> list[tuple[str, dict[str, Any]]]:
    """(logical id, statement) of every inline statement of template.yaml's functions, roles and state machine."""
    found = []
    for logical_id, resource in Template(TEMPLATE).resources.items():
        props = resource.get("Properties", {})
        for policy in props.get("Policies", []):
            document = policy.get("PolicyDocument", policy)
            found += [(logical_id, s) for s in document.get("Statement", [])]
    return found


def test_template_grants_resource_star_only_for_actions_without_a_resource_type() -> None:
    # Given every inline statement of template.yaml
    wrong = []
    for logical_id, statement in _function_statements():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert "*" not in action, f"{logical_id} grants the wildcard action {action}"
            types = [r["resource_type"] for r in _privilege(action)["resource_types"] if r["resource_type"]]
            star = statement.get("Resource") == "*"
            # Then Resource "*" is only for actions that take none, and those are granted on "*" only
            if star != (types == []):
                wrong.append(f"{logical_id}: {action} on {statement.get('Resource')} (resource types {types})")
    assert wrong == []


def test_the_etl_role_may_read_the_prefixes_its_spark_output_committer_writes() -> None:
    # Spark's overwrite checks the output path (HEAD, which needs s3:GetObject), writes under _temporary/,
    # copies each part into place (CopyObject reads its source) and deletes what it replaces.
    statements = [s for logical_id, s in _function_statements() if logical_id == "EtlRole"]
    for prefix in ("transformed", "rejects"):
        granted = {
            action
            for s in statements
            for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            if any(
                prefix in json.dumps(r) for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
            )
        }
        assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= granted, prefix
