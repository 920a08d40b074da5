"""solution_resource: the Personalize solution as a CloudFormation custom resource.

AWS::Personalize::Solution cannot set performAutoTraining, which defaults to true (a billed retraining
every 7 days); this resource creates the solution with it off. Every outcome, including a bug, becomes
an answer to CloudFormation: a custom resource that never answers blocks the stack for an hour.
"""

from collections.abc import Callable
from typing import Any, Literal

from recflow_lambda import personalize
from recflow_lambda.errors import PersonalizeResourceExists, SolutionNotReady
from recflow_lambda.models import (
    CustomResourceAddress,
    CustomResourceResponse,
    SolutionProperties,
    SolutionRequest,
    parse_event,
)
from recflow_lambda.naming import personalize_arn
from recflow_lambda.observability import logger

POLL_SECONDS = 5
# Answer before Lambda's timeout can cut the function off mid-wait.
SAFETY_MARGIN_MS = 20_000
# Outside Lambda (offline deploy) there is no deadline: give up after this many polls.
MAX_POLLS = 720
RemainingMs = Callable[[], int]
Sleep = Callable[[float], None]


def answer_request(
    event: dict[str, Any], address: CustomResourceAddress, remaining_ms: RemainingMs, sleep: Sleep
) -> CustomResourceResponse:
    """Carry out a Create, Update or Delete and return the answer for CloudFormation (never raises)."""
    arn: str | None = None
    request_type = event.get("RequestType")
    try:
        request = parse_event(SolutionRequest, event, "solution_resource")
        if request.request_type == "Delete":
            reason = _delete(request.physical_resource_id, remaining_ms, sleep)
            return _answer(address, "SUCCESS", reason, _physical_id(address))
        arn = _find_or_create(request.properties)
        _wait_until_active(arn, wait=lambda: sleep(POLL_SECONDS), has_time=_time_left(remaining_ms))
        return _answer(address, "SUCCESS", f"Solution {arn} is ACTIVE.", arn, {"Arn": arn})
    except Exception as exc:  # CloudFormation must hear about every failure
        logger.exception("solution custom resource failed", extra={"request_type": request_type})
        # A failed Create that made a solution reports its ARN, so the rollback's Delete removes it.
        physical_id = arn if request_type == "Create" and arn else _physical_id(address)
        return _answer(address, "FAILED", str(exc) or type(exc).__name__, physical_id)


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
    arn = _find_or_create(properties)
    _wait_until_active(arn, wait=wait, has_time=has_time or _poll_budget(MAX_POLLS))
    return arn


def _find_or_create(properties: SolutionProperties) -> str:
    arn = personalize_arn(properties.dataset_group_arn, "solution", properties.name)
    found = personalize.find_solution(arn)
    if found is None:
        try:
            return personalize.create_solution(
                name=properties.name,
                dataset_group_arn=properties.dataset_group_arn,
                recipe_arn=properties.recipe_arn,
            )
        except PersonalizeResourceExists:
            found = personalize.find_solution(arn)
            if found is None:
                raise
    _require_same(found, properties)
    return str(found["solutionArn"])


def _require_same(found: dict[str, Any], properties: SolutionProperties) -> None:
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
            f"A solution named {properties.name} already exists with {', '.join(differences)}; "
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


def _time_left(remaining_ms: RemainingMs) -> Callable[[], bool]:
    return lambda: remaining_ms() > SAFETY_MARGIN_MS


def _poll_budget(polls: int) -> Callable[[], bool]:
    budget = iter(range(polls))
    return lambda: next(budget, None) is not None


def _delete(physical_id: str | None, remaining_ms: RemainingMs, sleep: Sleep) -> str:
    if not physical_id or not physical_id.startswith("arn:") or ":solution/" not in physical_id:
        # A Create that failed before making a solution: nothing to delete.
        return f"No solution to delete ({physical_id})."
    if not personalize.delete_solution(physical_id):
        return f"Solution {physical_id} was already deleted."
    has_time = _time_left(remaining_ms)
    while True:
        solution = personalize.find_solution(physical_id)
        if solution is None:
            return f"Solution {physical_id} is deleted."
        if not has_time():
            raise SolutionNotReady(
                f"Solution {physical_id} was still {solution['status']} when the function ran out of time."
            )
        sleep(POLL_SECONDS)


def _physical_id(address: CustomResourceAddress) -> str:
    return address.physical_resource_id or f"{address.logical_resource_id}-not-created"


def _answer(
    address: CustomResourceAddress,
    status: Literal["SUCCESS", "FAILED"],
    reason: str,
    physical_id: str,
    data: dict[str, str] | None = None,
) -> CustomResourceResponse:
    return CustomResourceResponse(
        Status=status,
        Reason=reason,
        PhysicalResourceId=physical_id,
        StackId=address.stack_id,
        RequestId=address.request_id,
        LogicalResourceId=address.logical_resource_id,
        Data=data or {},
    )
