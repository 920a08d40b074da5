"""solution_resource: the Personalize solution as a CloudFormation custom resource.

AWS::Personalize::Solution cannot set performAutoTraining, which defaults to true (a billed retraining
every 7 days); this resource creates the solution with it off. Every outcome, including a bug, becomes
an answer to CloudFormation: a custom resource that never answers blocks the stack until its
ServiceTimeout. The solution is named `fit_name(Name)`: at most 63 characters whatever the stack's name.
"""

import re
from collections.abc import Callable
from typing import Any

from recflow_lambda import personalize
from recflow_lambda.custom_resource import (
    POLL_SECONDS,
    RemainingMs,
    Sleep,
    answer,
    physical_id,
    poll_budget,
    sentence,
    time_left,
)
from recflow_lambda.errors import PersonalizeRequestFailed, PersonalizeResourceExists, SolutionNotReady
from recflow_lambda.models import (
    CustomResourceAddress,
    CustomResourceResponse,
    SolutionProperties,
    SolutionRequest,
    parse_event,
)
from recflow_lambda.naming import fit_name, personalize_arn
from recflow_lambda.observability import logger

# Outside Lambda (offline deploy) there is no deadline: give up after this many polls.
MAX_POLLS = 720
_SOLUTION_ARN = re.compile(r"^arn:[\w-]+:personalize:[\w-]+:\d{12}:solution/[^/]+$")


def answer_request(
    event: dict[str, Any], address: CustomResourceAddress, remaining_ms: RemainingMs, sleep: Sleep
) -> CustomResourceResponse:
    """Carry out a Create, Update or Delete and return the answer for CloudFormation (never raises).

    Update: the solution of the new properties, created when there is none. A recipe change names a new
    solution, so the answer carries a new PhysicalResourceId and CloudFormation then Deletes the old one.
    Delete reads no properties (a rollback must succeed whatever the Create was given): it stops any
    training of the solution, deletes it and waits until it is gone.
    """
    request_type = event.get("RequestType")
    has_time = time_left(remaining_ms)

    def wait() -> None:
        sleep(POLL_SECONDS)

    arn: str | None = None
    is_new = False
    try:
        if request_type == "Delete":
            reason = _delete(address.physical_resource_id, wait=wait, has_time=has_time)
            return answer(address, "SUCCESS", reason, physical_id(address))
        request = parse_event(SolutionRequest, event, "solution_resource")
        arn, is_new = _find_or_create(request.properties)
        _wait_until_active(arn, wait=wait, has_time=has_time)
        replaced = request.physical_resource_id
        if request.request_type == "Update" and replaced and replaced != arn:
            reason = f"Solution {arn} is ACTIVE and replaces {replaced}, which CloudFormation deletes next."
        else:
            reason = f"Solution {arn} is ACTIVE."
        return answer(address, "SUCCESS", reason, arn, {"Arn": arn})
    except Exception as exc:  # CloudFormation must hear about every failure
        logger.exception("solution custom resource failed", extra={"request_type": request_type})
        if request_type == "Create" and arn:
            # A failed Create reports the solution it made or adopted, so the rollback's Delete removes it.
            return answer(address, "FAILED", sentence(exc), arn)
        if arn and is_new:  # a failed Update keeps the old resource: nothing else would remove the new one
            _discard(arn)
        return answer(address, "FAILED", sentence(exc), physical_id(address))


def ensure_solution(
    *,
    name: str,
    dataset_group_arn: str,
    recipe_arn: str,
    wait: Callable[[], None],
    has_time: Callable[[], bool] | None = None,
) -> str:
    """Find or create the solution (performAutoTraining off), wait until it is ACTIVE, return its ARN.

    ``wait`` is called between polls (the offline runtime advances its simulated clock there);
    ``has_time`` says whether another poll fits (default: up to MAX_POLLS polls).
    """
    properties = SolutionProperties(Name=name, DatasetGroupArn=dataset_group_arn, RecipeArn=recipe_arn)
    arn, _ = _find_or_create(properties)
    _wait_until_active(arn, wait=wait, has_time=has_time or poll_budget(MAX_POLLS))
    return arn


def _find_or_create(properties: SolutionProperties) -> tuple[str, bool]:
    """The ARN of the solution these properties describe, and whether this call created it."""
    name = fit_name(properties.name)
    arn = personalize_arn(properties.dataset_group_arn, "solution", name)
    found = personalize.find_solution(arn)
    if found is None:
        try:
            created = personalize.create_solution(
                name=name, dataset_group_arn=properties.dataset_group_arn, recipe_arn=properties.recipe_arn
            )
            return created, True
        except PersonalizeResourceExists:
            found = personalize.find_solution(arn)
            if found is None:
                raise
    _require_same(found, name, properties)
    return str(found["solutionArn"]), False


def _require_same(found: dict[str, Any], name: str, properties: SolutionProperties) -> None:
    """An existing solution of that name is adopted only if it is the one this resource would create."""
    differences = [
        f"{field} {found.get(field)!r} instead of {wanted!r}"
        for field, wanted in (
            ("recipeArn", properties.recipe_arn),
            ("datasetGroupArn", properties.dataset_group_arn),
            ("performAutoTraining", False),
        )
        if found.get(field, wanted) != wanted
    ]
    if differences:
        raise SolutionNotReady(
            f"A solution named {name} already exists with {', '.join(differences)}; "
            "choose another Name or delete that solution."
        )


def _wait_until_active(arn: str, *, wait: Callable[[], None], has_time: Callable[[], bool]) -> None:
    while True:
        solution = personalize.find_solution(arn)
        status = solution["status"] if solution else "missing"
        if status == "ACTIVE":
            return
        if status not in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            raise SolutionNotReady(f"Solution {arn} is {status} instead of becoming ACTIVE.")
        if not has_time():
            raise SolutionNotReady(f"Solution {arn} was still {status} when the function ran out of time.")
        wait()


def _delete(physical_id: str | None, *, wait: Callable[[], None], has_time: Callable[[], bool]) -> str:
    if not physical_id or not _SOLUTION_ARN.match(physical_id):
        return f"Nothing to delete: the Create made no solution ({physical_id})."
    stopped: set[str] = set()
    first_look = True
    while True:
        solution = personalize.find_solution(physical_id)
        if solution is None:
            if first_look:
                return f"Solution {physical_id} was already deleted."
            after = f" (its training was stopped: {', '.join(sorted(stopped))})" if stopped else ""
            return f"Solution {physical_id} is deleted{after}."
        first_look = False
        status = solution["status"]
        if status not in ("DELETE PENDING", "DELETE IN_PROGRESS"):
            # DeleteSolution is refused while a version trains: stop it, as `aws personalize` users would.
            unfinished = personalize.unfinished_solution_versions(physical_id)
            for version, version_status in unfinished.items():
                if version_status != "CREATE STOPPING" and version not in stopped:
                    personalize.stop_solution_version(version)
                    stopped.add(version)
            if unfinished:
                status = "stopping its training"
            elif status not in ("CREATE PENDING", "CREATE IN_PROGRESS") and not personalize.delete_solution(
                physical_id
            ):
                continue  # gone between the two calls
        if not has_time():
            raise SolutionNotReady(
                f"Solution {physical_id} was still {status} when the function ran out of time; "
                "delete the stack again to finish."
            )
        wait()


def _discard(arn: str) -> None:
    """Best effort: delete a solution this request created before failing (it has no training)."""
    try:
        personalize.delete_solution(arn)
    except PersonalizeRequestFailed:
        logger.exception("could not delete the solution a failed update created", extra={"solution": arn})
