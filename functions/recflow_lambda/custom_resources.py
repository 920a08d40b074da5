"""The one function behind the stack's Personalize custom resources: each request goes to its type's module.

Custom::PersonalizeSolution (solution.py), Custom::PersonalizeFilter (filter_resource.py) and
Custom::PersonalizeCampaign (campaign_resource.py) share SolutionFunction (template.yaml): one role holding
the stack's Personalize resource permissions, one log. The modules are looked up at call time, so a test may
replace one module's ``answer_request``.
"""

from typing import Any

from recflow_lambda import campaign_resource, filter_resource, solution
from recflow_lambda.custom_resource import RemainingMs, Sleep, answer, physical_id
from recflow_lambda.models import CustomResourceAddress, CustomResourceResponse

SOLUTION = "Custom::PersonalizeSolution"
FILTER = "Custom::PersonalizeFilter"
CAMPAIGN = "Custom::PersonalizeCampaign"
RESOURCE_TYPES = (SOLUTION, FILTER, CAMPAIGN)


def answer_request(
    event: dict[str, Any], address: CustomResourceAddress, remaining_ms: RemainingMs, sleep: Sleep
) -> CustomResourceResponse:
    """The answer of the module serving the event's ResourceType (never raises)."""
    # CloudFormation always sends ResourceType; an event written by hand without one is the solution's.
    kind = event.get("ResourceType", SOLUTION)
    if kind == SOLUTION:
        return solution.answer_request(event, address, remaining_ms, sleep)
    if kind == FILTER:
        return filter_resource.answer_request(event, address, remaining_ms, sleep)
    if kind == CAMPAIGN:
        return campaign_resource.answer_request(event, address, remaining_ms, sleep)
    reason = f"This function serves {', '.join(RESOURCE_TYPES)}, not {kind}; check the ServiceToken of the resource."
    # A Delete of a resource it never served must not block the stack's deletion.
    if event.get("RequestType") == "Delete":
        return answer(address, "SUCCESS", reason, physical_id(address))
    return answer(address, "FAILED", reason, physical_id(address))
