"""Offline metrics of each solution version of the stack's solution (GetSolutionMetrics), oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recflow.operator.stack import Stack


@dataclass
class VersionMetrics:
    arn: str
    status: str
    created: datetime
    metrics: dict[str, float]


def solution_metrics(stack: Stack) -> list[VersionMetrics]:
    personalize = stack.client("personalize")
    versions = []
    token = None
    while True:
        page = personalize.list_solution_versions(
            solutionArn=stack.solution_arn, **({"nextToken": token} if token else {})
        )
        versions.extend(page["solutionVersions"])
        token = page.get("nextToken")
        if not token:
            break
    result = []
    for version in sorted(versions, key=lambda v: v["creationDateTime"]):
        arn = version["solutionVersionArn"]
        # Metrics exist only for a trained version.
        metrics = (
            personalize.get_solution_metrics(solutionVersionArn=arn)["metrics"] if version["status"] == "ACTIVE" else {}
        )
        result.append(VersionMetrics(arn, version["status"], version["creationDateTime"], dict(metrics)))
    return result
