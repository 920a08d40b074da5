"""The solution custom resource's function runs within its MemorySize and Timeout offline, as on AWS: over
either, it never answers, the resource fails and the stack rolls back."""

from collections.abc import Iterator
from typing import Any

import pytest
import recflow_lambda.solution as solution
from offline_aws import offline_aws
from recflow_lambda.models import CustomResourceResponse

from recflow.offline.clock import SimClock
from recflow.offline.deployers import DeployError
from recflow.offline.stack import TEMPLATE, deploy_stack, describe_stack
from recflow.offline.template import Template


@pytest.fixture
def clock() -> Iterator[SimClock]:
    clock = SimClock(scale=0)
    with offline_aws(clock):
        yield clock


def solution_function(**properties: int) -> Template:
    """template.yaml with these properties (MemorySize, Timeout) on the solution custom resource's function."""
    template = Template(TEMPLATE)
    template.resources["SolutionFunction"]["Properties"].update(properties)
    return template


class HungryCreate:
    """Wraps the function's request handling: a Create first holds 200 MB of fresh 1 MB blocks."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.reaches_create_solution = True

    def __call__(self, event: dict[str, Any], address: Any, *args: Any) -> CustomResourceResponse:
        self.seen.append(event["RequestType"])
        if event["RequestType"] != "Create":
            return REAL_ANSWER_REQUEST(event, address, *args)
        held = [b"x" * (1 << 20) for _ in range(200)]
        if self.reaches_create_solution:
            return REAL_ANSWER_REQUEST(event, address, *args)
        # As if Lambda had stopped it right there: whatever it answers must not be heard.
        return CustomResourceResponse(
            Status="SUCCESS",
            Reason=f"held {len(held)} MB",
            PhysicalResourceId="never-heard",
            StackId=address.stack_id,
            RequestId=address.request_id,
            LogicalResourceId=address.logical_resource_id,
        )


REAL_ANSWER_REQUEST = solution.answer_request


@pytest.fixture
def hungry(monkeypatch: pytest.MonkeyPatch) -> HungryCreate:
    wrapper = HungryCreate()
    monkeypatch.setattr(solution, "answer_request", wrapper)
    return wrapper


def test_a_create_over_the_functions_memory_fails_the_resource_and_rolls_the_stack_back(
    clock: SimClock, hungry: HungryCreate
) -> None:
    # Given the solution function limited to 128 MB, and a Create that needs ~200 MB besides the runtime
    template = solution_function(MemorySize=128)
    hungry.reaches_create_solution = False
    # When the stack is deployed
    with pytest.raises(DeployError) as error:
        deploy_stack("shop", template, clock)
    # Then the Create's answer is never heard: the resource fails as CloudFormation fails one that never
    # answered, and the rollback's Delete (within the limit) answers SUCCESS
    message = str(error.value)
    assert message.startswith(
        "Solution (Custom::PersonalizeSolution) failed: CloudFormation did not receive a response from your "
        "Custom Resource within its ServiceTimeout of 1200 seconds: the function failed with "
        "Runtime.OutOfMemory (RequestId: "
    )
    assert "Runtime exited with error: signal: killed" in message
    assert message.endswith(
        "The rollback's Delete answered SUCCESS: Nothing to delete: the Create made no solution (Solution-no-answer)."
    )
    assert "never-heard" not in message
    assert hungry.seen == ["Create", "Delete"]
    # And the stack rolled back completely
    rolled_back = describe_stack("shop")
    assert (rolled_back.status, rolled_back.resources) == ("ROLLBACK_COMPLETE", {})


def test_the_same_create_within_a_larger_memory_size_deploys(clock: SimClock, hungry: HungryCreate) -> None:
    # Given the same hungry Create, which goes on to create the solution, with 1024 MB
    stack = deploy_stack("shop", solution_function(MemorySize=1024), clock)

    assert stack.status == "CREATE_COMPLETE"
    assert stack.resources["Solution"].physical_id.startswith("arn:aws:personalize:us-east-1:123456789012:solution/")
    assert hungry.seen == ["Create"]
