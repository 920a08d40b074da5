"""What the Personalize custom resources (solution, filter, campaign) share: the answer to CloudFormation and
the time budget of their polls.

Every outcome, including a bug, becomes an answer: a custom resource that never answers blocks the stack
until its ServiceTimeout. Each resource waits for Personalize in polls of POLL_SECONDS while the function has
time left (``time_left``), or, outside Lambda (the offline runtime), for at most a number of polls.
"""

from collections.abc import Callable
from typing import Literal

from recflow_lambda.models import CustomResourceAddress, CustomResourceResponse

POLL_SECONDS = 5
# Answer before Lambda's timeout can cut the function off mid-wait.
SAFETY_MARGIN_MS = 20_000
RemainingMs = Callable[[], int]
Sleep = Callable[[float], None]


def time_left(remaining_ms: RemainingMs) -> Callable[[], bool]:
    """Whether another poll fits before the function must answer."""
    return lambda: remaining_ms() > SAFETY_MARGIN_MS


def poll_budget(polls: int) -> Callable[[], bool]:
    """At most ``polls`` more polls (where no Lambda deadline applies)."""
    budget = iter(range(polls))
    return lambda: next(budget, None) is not None


def sentence(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def physical_id(address: CustomResourceAddress) -> str:
    """The request's physical id, or one naming the logical resource when the Create made nothing."""
    return address.physical_resource_id or f"{address.logical_resource_id}-not-created"


def answer(
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
