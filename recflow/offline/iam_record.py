"""The record of an offline run's IAM decisions (runs/<run-id>/iam.json) and what it says about the template.

For each role of the stack the record keeps what the template grants (every statement of its policies)
and every call the role's credentials made (action, resource, allowed or not, the statements that allowed
it); resource-based policies (the bucket's, the functions') likewise for the service principals.
`unused_grants` lists the (action, resource) pairs of Allow statements that no call used: candidates to
remove, except those only AWS services use outside the calls an offline run makes (NOT_EXERCISED_OFFLINE).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recflow.offline.authorization import Authority, Policy, glob_matches

if TYPE_CHECKING:
    from recflow.offline.stack import Stack

FILE_NAME = "iam.json"
# Grants used by AWS services outside the calls an offline run makes: Lambda's and Glue's log delivery,
# X-Ray traces, Step Functions' log delivery set-up, Glue reading its script from the SAM artifacts bucket.
NOT_EXERCISED_OFFLINE = ("logs:", "xray:", "arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-")


class IamRecordError(Exception):
    """The lake has no IAM record to read; the message says what to do."""


def iam_record(authority: Authority, stack: Stack) -> dict[str, Any]:
    """The run's record: call it before the mocked AWS goes away (it reads the policies from moto)."""
    roles = {r.physical_id: r.logical_id for r in stack.resources.values() if r.resource_type == "AWS::IAM::Role"}
    principals: dict[str, dict[str, Any]] = {}
    for name, logical_id in sorted(roles.items()):
        role_arn = f"arn:aws:iam::{authority.account}:role/{name}"
        principals[name] = {"logical_id": logical_id, "grants": _grants(authority.policies_of(role_arn))}
    arns = {
        "AWS::S3::Bucket": "arn:aws:s3:::{}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{authority.region}:{authority.account}:function:{{}}",
    }
    resource_grants = [
        {**grant, "resource_logical_id": r.logical_id}
        for r in sorted(stack.resources.values(), key=lambda r: r.logical_id)
        if r.resource_type in arns
        for grant in _grants(authority.resource_policies(arns[r.resource_type].format(r.physical_id)))
    ]
    counted = Counter((c.principal, c.action, c.resource, c.allowed, c.granted_by) for c in authority.calls)
    calls = [
        {"principal": p, "action": a, "resource": r, "allowed": ok, "granted_by": list(by), "count": n}
        for (p, a, r, ok, by), n in counted.items()
    ]
    return {"principals": principals, "resource_policies": resource_grants, "calls": calls}


def _grants(policies: list[Policy]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{policy.name}#{index}",
            "effect": statement.get("Effect", "Allow"),
            "actions": _list(statement.get("Action", [])),
            "resources": _list(statement.get("Resource", [])),
            "principal": statement.get("Principal"),
            "condition": statement.get("Condition"),
        }
        for policy in policies
        for index, statement in enumerate(policy.statements())
    ]


def _list(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def write_iam_record(lake: Path, run_id: str, record: dict[str, Any]) -> Path:
    path = lake / "runs" / run_id / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def read_iam_record(lake: Path, run_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """(run id, record) of `run_id`, or of the newest run of the lake that has one."""
    runs = lake / "runs"
    found = sorted(runs.glob(f"*/{FILE_NAME}"), key=lambda p: p.stat().st_mtime) if runs.is_dir() else []
    if run_id is not None:
        found = [p for p in found if p.parent.name == run_id]
    if not found:
        which = f"run {run_id}" if run_id else "any run"
        raise IamRecordError(f"{runs} has no {FILE_NAME} for {which}; run `recflow local run --lake {lake}` first.")
    record: dict[str, Any] = json.loads(found[-1].read_text())
    return found[-1].parent.name, record


@dataclass(frozen=True)
class UnusedGrant:
    owner: str  # the role's logical id, or the resource whose policy it is
    statement: str  # "policy#index"
    action: str
    resource: str
    exercised_offline: bool  # False: only AWS services use it, outside what an offline run calls


def unused_grants(record: dict[str, Any]) -> list[UnusedGrant]:
    """Each (action, resource) of an Allow statement that no allowed call of the run matched."""
    allowed = [c for c in record["calls"] if c["allowed"]]
    unused: list[UnusedGrant] = []
    owned = [(info["logical_id"], g) for info in record["principals"].values() for g in info["grants"]]
    owned += [(g["resource_logical_id"], g) for g in record["resource_policies"]]
    for owner, grant in owned:
        if grant["effect"] != "Allow":
            continue
        users = [c for c in allowed if grant["id"] in c["granted_by"]]
        for action in grant["actions"]:
            for resource in grant["resources"] or ["*"]:
                if any(_used(c, action, resource) for c in users):
                    continue
                exercised = not any(m in action or resource.startswith(m) for m in NOT_EXERCISED_OFFLINE)
                unused.append(UnusedGrant(owner, grant["id"], action, resource, exercised))
    return unused


def _used(call: dict[str, Any], action: str, resource: str) -> bool:
    return glob_matches(action, call["action"], ignore_case=True) and glob_matches(resource, call["resource"])
