"""The stack's Personalize campaign (CampaignMinTPS > 0) as a CloudFormation custom resource.

A campaign needs a solution version, which only a run trains, so Create does not create it: it records the
campaign's deterministic name (PhysicalResourceId and Arn: the ARN it will have) and the first successful run
creates it (campaign.py). Create adopts an existing campaign of that name only when it serves a version of
the stack's solution. Update applies a new MinProvisionedTPS to an existing campaign and waits until it is
ACTIVE again (0 deletes it); a new SolutionArn (a recipe change) deletes the campaign, which served the old
solution, so that solution can be deleted and the next run creates the campaign on the new one. Delete deletes the
campaign when it exists and waits until it is gone: a campaign bills every hour it exists, so deleting the
stack or setting CampaignMinTPS back to 0 stops the billing. The resource's SolutionArn makes CloudFormation
delete it before the solution, which Personalize refuses to delete while a campaign uses it.
"""

import re
from collections.abc import Callable
from typing import Any

from recflow_lambda import personalize
from recflow_lambda.campaign import busy_status, is_failed
from recflow_lambda.custom_resource import (
    POLL_SECONDS,
    RemainingMs,
    Sleep,
    answer,
    physical_id,
    sentence,
    time_left,
)
from recflow_lambda.errors import PersonalizeResourceInUse, ResourceNotReady
from recflow_lambda.models import (
    CampaignProperties,
    CampaignRequest,
    CustomResourceAddress,
    CustomResourceResponse,
    parse_event,
)
from recflow_lambda.naming import personalize_arn
from recflow_lambda.observability import logger

_CAMPAIGN_ARN = re.compile(r"^arn:[\w-]+:personalize:[\w-]+:\d{12}:campaign/[^/]+$")


def answer_request(
    event: dict[str, Any], address: CustomResourceAddress, remaining_ms: RemainingMs, sleep: Sleep
) -> CustomResourceResponse:
    """Carry out a Create, Update or Delete of the campaign and return the answer (never raises)."""
    request_type = event.get("RequestType")
    has_time = time_left(remaining_ms)

    def wait() -> None:
        sleep(POLL_SECONDS)

    try:
        if request_type == "Delete":
            reason = _delete(address.physical_resource_id, wait=wait, has_time=has_time)
            return answer(address, "SUCCESS", reason, physical_id(address))
        request = parse_event(CampaignRequest, event, "campaign_resource")
        properties = request.properties
        arn = personalize_arn(properties.solution_arn, "campaign", properties.name)
        old = request.old_properties
        if old is not None and old.solution_arn != properties.solution_arn:
            reason = _delete(arn, wait=wait, has_time=has_time)
            reason += f" It served {old.solution_arn}; the next successful run creates it on {properties.solution_arn}."
        elif properties.min_provisioned_tps == 0:
            reason = _delete(arn, wait=wait, has_time=has_time) + " MinProvisionedTPS 0 means no campaign."
        else:
            reason = _adopt_or_record(arn, properties, wait=wait, has_time=has_time)
        return answer(address, "SUCCESS", reason, arn, {"Arn": arn})
    except Exception as exc:  # CloudFormation must hear about every failure
        logger.exception("campaign custom resource failed", extra={"request_type": request_type})
        # Nothing was created: a failed Create's rollback must not delete a campaign it refused to adopt.
        return answer(address, "FAILED", sentence(exc), physical_id(address))


def _adopt_or_record(
    arn: str, properties: CampaignProperties, *, wait: Callable[[], None], has_time: Callable[[], bool]
) -> str:
    campaign = personalize.find_campaign(arn)
    if campaign is None:
        return (
            f"Campaign {arn} ({properties.min_provisioned_tps} TPS) is created by the next successful run: "
            "it needs a trained solution version."
        )
    served = campaign.get("solutionVersionArn") or ""
    if not served.startswith(properties.solution_arn + "/"):
        raise ResourceNotReady(
            f"A campaign named {properties.name} already exists and serves {served}, not a version of "
            f"{properties.solution_arn}; delete that campaign (aws personalize delete-campaign) and deploy again."
        )
    wanted = properties.min_provisioned_tps
    if campaign.get("minProvisionedTPS") == wanted:
        return f"Campaign {arn} serves {served} with {wanted} TPS."
    _update_tps(arn, wanted, wait=wait, has_time=has_time)
    return f"Campaign {arn} serves {served} with {wanted} TPS (was {campaign.get('minProvisionedTPS')})."


def _update_tps(arn: str, tps: int, *, wait: Callable[[], None], has_time: Callable[[], bool]) -> None:
    """UpdateCampaign(minProvisionedTPS) once no creation or update is in progress, then wait until it is done."""
    updated = False
    while True:
        campaign = personalize.find_campaign(arn)
        if campaign is None:
            raise ResourceNotReady(f"Campaign {arn} was deleted while its minimum TPS was being changed.")
        busy = busy_status(campaign)
        update = campaign.get("latestCampaignUpdate") or {}
        if updated and busy is None:
            if is_failed(update.get("status")):
                reason = update.get("failureReason") or "Personalize gave no reason"
                raise ResourceNotReady(f"Campaign {arn} could not change its minimum TPS to {tps}: {reason}")
            return
        if busy is None and is_failed(campaign.get("status")):
            raise ResourceNotReady(f"Campaign {arn} is {campaign['status']}: {campaign.get('failureReason')}")
        if busy is None:
            try:
                personalize.update_campaign(arn, min_provisioned_tps=tps)
                updated = True
            except PersonalizeResourceInUse:  # a run's update started meanwhile: wait for it
                busy = "busy"
        if not has_time():
            raise ResourceNotReady(
                f"Campaign {arn} was still {busy or 'updating'} when the function ran out of time; deploy again."
            )
        wait()


def _delete(arn: str | None, *, wait: Callable[[], None], has_time: Callable[[], bool]) -> str:
    if not arn or not _CAMPAIGN_ARN.match(arn):
        return f"Nothing to delete: the Create recorded no campaign ({arn})."
    first_look = True
    while True:
        campaign = personalize.find_campaign(arn)
        if campaign is None:
            return f"Campaign {arn} did not exist." if first_look else f"Campaign {arn} is deleted."
        first_look = False
        status = str(campaign["status"])
        busy = busy_status(campaign)
        # DeleteCampaign is refused while the campaign is created or updated: wait for that to settle first.
        if busy is None and not status.startswith("DELETE"):
            if not personalize.delete_campaign(arn):
                continue  # gone between the two calls
            status = "DELETE PENDING"
        if not has_time():
            raise ResourceNotReady(
                f"Campaign {arn} was still {busy or status} when the function ran out of time; "
                "delete the stack again to finish."
            )
        wait()
