"""The stack's Personalize filter (ExcludeSeenItems) as a CloudFormation custom resource.

CloudFormation has no Personalize filter type. Create and Update describe-or-create the filter under its
deterministic name (at most 63 characters), adopt an existing one only when it is the filter these properties
describe, and wait until it is ACTIVE; the answer's PhysicalResourceId and Arn are the filter's ARN. A filter
cannot be changed, so an Update whose properties name another filter creates it and CloudFormation deletes
the old one. Delete deletes the filter and waits until it is gone.
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
    sentence,
    time_left,
)
from recflow_lambda.errors import PersonalizeResourceExists, ResourceNotReady
from recflow_lambda.models import (
    CustomResourceAddress,
    CustomResourceResponse,
    FilterProperties,
    FilterRequest,
    parse_event,
)
from recflow_lambda.naming import personalize_arn
from recflow_lambda.observability import logger

_FILTER_ARN = re.compile(r"^arn:[\w-]+:personalize:[\w-]+:\d{12}:filter/[^/]+$")
_CREATING = frozenset({"CREATE PENDING", "CREATE IN_PROGRESS"})
_DELETING = frozenset({"DELETE PENDING", "DELETE IN_PROGRESS"})


def answer_request(
    event: dict[str, Any], address: CustomResourceAddress, remaining_ms: RemainingMs, sleep: Sleep
) -> CustomResourceResponse:
    """Carry out a Create, Update or Delete of the filter and return the answer (never raises)."""
    request_type = event.get("RequestType")
    has_time = time_left(remaining_ms)

    def wait() -> None:
        sleep(POLL_SECONDS)

    arn: str | None = None
    try:
        if request_type == "Delete":
            reason = _delete(address.physical_resource_id, wait=wait, has_time=has_time)
            return answer(address, "SUCCESS", reason, physical_id(address))
        request = parse_event(FilterRequest, event, "filter_resource")
        arn = _find_or_create(request.properties)
        _wait_until_active(arn, wait=wait, has_time=has_time)
        return answer(address, "SUCCESS", f"Filter {arn} is ACTIVE.", arn, {"Arn": arn})
    except Exception as exc:  # CloudFormation must hear about every failure
        logger.exception("filter custom resource failed", extra={"request_type": request_type})
        # A failed Create reports the filter it made, so the rollback's Delete removes it; a failed Update keeps
        # the old physical id (the new filter, if any, is left: the next Update adopts it).
        reported = arn if request_type == "Create" and arn else physical_id(address)
        return answer(address, "FAILED", sentence(exc), reported)


def _find_or_create(properties: FilterProperties) -> str:
    arn = personalize_arn(properties.dataset_group_arn, "filter", properties.name)
    found = personalize.find_filter(arn)
    if found is None:
        try:
            return personalize.create_filter(
                name=properties.name, dataset_group_arn=properties.dataset_group_arn, expression=properties.expression
            )
        except PersonalizeResourceExists:  # created meanwhile, by a retried request
            found = personalize.find_filter(arn)
            if found is None:
                raise
    _require_same(found, properties)
    return str(found["filterArn"])


def _require_same(found: dict[str, Any], properties: FilterProperties) -> None:
    """An existing filter of that name is adopted only if it is the one this resource would create."""
    differences = [
        f"{field} {found.get(field)!r} instead of {wanted!r}"
        for field, wanted in (
            ("filterExpression", properties.expression),
            ("datasetGroupArn", properties.dataset_group_arn),
        )
        if found.get(field) != wanted
    ]
    if differences:
        raise ResourceNotReady(
            f"A filter named {properties.name} already exists with {', '.join(differences)}; "
            "delete that filter (aws personalize delete-filter) and deploy again."
        )


def _wait_until_active(arn: str, *, wait: Callable[[], None], has_time: Callable[[], bool]) -> None:
    while True:
        found = personalize.find_filter(arn)
        status = found["status"] if found else "missing"
        if status == "ACTIVE":
            return
        if status not in _CREATING:
            reason = f": {found['failureReason']}" if found and found.get("failureReason") else ""
            raise ResourceNotReady(f"Filter {arn} is {status} instead of becoming ACTIVE{reason}.")
        if not has_time():
            raise ResourceNotReady(f"Filter {arn} was still {status} when the function ran out of time.")
        wait()


def _delete(arn: str | None, *, wait: Callable[[], None], has_time: Callable[[], bool]) -> str:
    if not arn or not _FILTER_ARN.match(arn):
        return f"Nothing to delete: the Create made no filter ({arn})."
    first_look = True
    while True:
        found = personalize.find_filter(arn)
        if found is None:
            return f"Filter {arn} was already deleted." if first_look else f"Filter {arn} is deleted."
        first_look = False
        status = found["status"]
        # DeleteFilter is refused while the filter is being created: wait for it to settle first.
        if status not in _DELETING | _CREATING and not personalize.delete_filter(arn):
            continue  # gone between the two calls
        if not has_time():
            raise ResourceNotReady(
                f"Filter {arn} was still {status} when the function ran out of time; delete the stack again to finish."
            )
        wait()
