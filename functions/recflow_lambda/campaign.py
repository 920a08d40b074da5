"""point_campaign: the run's last Personalize step, pointing the stack's campaign at the run's solution version.

A campaign serves one solution version, so it cannot exist before the first training: the stack only records
its name and minimum TPS (campaign_resource.py), and the first successful run creates it. Each later run
updates it with an explicit UpdateCampaign to its own version, only once the batch output is in place: a run
that fails earlier never moves the campaign. (A campaign with syncWithLatestSolutionVersion would follow every
new version as soon as it is ACTIVE, including one whose batch job then failed.)

The state machine calls ``point_campaign`` once, then again after each wait until ``ready``: each call
describes the campaign and does what is missing (create it, update it to the run's version), so a retried or
redriven call never issues a second update. It is ready when the campaign is ACTIVE, no update is in progress
and it serves the run's version. A campaign or update that failed fails the run with Personalize's reason
(JobFailed), as a job that failed does; one that is not ready within CAMPAIGN_DEADLINE_SECONDS raises
DeadlineExceeded. The waits follow check_job's first-run rule (job_status.poll_wait_seconds).
"""

import contextlib
from typing import Any

from recflow_lambda import personalize
from recflow_lambda.errors import DeadlineExceeded, JobFailed, PersonalizeResourceExists, UnexpectedJobStatus
from recflow_lambda.job_status import poll_wait_seconds
from recflow_lambda.models import CampaignState
from recflow_lambda.settings import CampaignSettings

# Creating a campaign or deploying a new version to it takes minutes to tens of minutes.
CAMPAIGN_DEADLINE_SECONDS = 3 * 3600
ACTIVE = "ACTIVE"
NO_CAMPAIGN = "NO CAMPAIGN"


def is_busy(status: str | None) -> bool:
    """A creation or update in progress. AWS documents an update's statuses as CREATE PENDING > CREATE
    IN_PROGRESS > ACTIVE | CREATE FAILED; UPDATE PENDING / UPDATE IN_PROGRESS are accepted too."""
    return bool(status) and not str(status).startswith("DELETE") and str(status).endswith(("PENDING", "IN_PROGRESS"))


def is_failed(status: str | None) -> bool:
    return bool(status) and str(status).endswith("FAILED")


def busy_status(campaign: dict[str, Any]) -> str | None:
    """The status that keeps the campaign from taking a request now (its creation or its latest update's)."""
    update = campaign.get("latestCampaignUpdate") or {}
    for status in (campaign.get("status"), update.get("status")):
        if is_busy(status):
            return str(status)
    return None


def is_ready(campaign: dict[str, Any], solution_version_arn: str) -> bool:
    """ACTIVE, no update in progress or failed, and serving ``solution_version_arn``."""
    update = campaign.get("latestCampaignUpdate")
    return (
        campaign.get("status") == ACTIVE
        and (not update or update.get("status") == ACTIVE)
        and campaign.get("solutionVersionArn") == solution_version_arn
    )


def point_campaign(
    solution_version_arn: str, previous: CampaignState | None, settings: CampaignSettings
) -> CampaignState:
    """Bring the campaign one step closer to serving ``solution_version_arn``; return its state."""
    if not settings.campaign_arn:
        return CampaignState(arn=None, status=NO_CAMPAIGN, ready=True)
    arn = settings.campaign_arn
    name = arn.rsplit("/", 1)[-1]
    state = previous or CampaignState(arn=arn, name=name, status="UNKNOWN", ready=False)
    campaign = personalize.find_campaign(arn)
    if campaign is None:
        # Created meanwhile by a retried call: look again after the wait.
        with contextlib.suppress(PersonalizeResourceExists):
            personalize.create_campaign(
                name=name, solution_version_arn=solution_version_arn, min_provisioned_tps=settings.campaign_min_tps
            )
        return _waiting(state, "CREATE PENDING", None, settings)
    served = campaign.get("solutionVersionArn")
    if is_ready(campaign, solution_version_arn):
        return state.model_copy(
            update={"status": ACTIVE, "ready": True, "solution_version_arn": served, "polls": state.polls + 1}
        )
    _raise_if_failed(campaign, solution_version_arn)
    busy = busy_status(campaign)
    if busy is None:
        # ACTIVE on another version (or an earlier update to another version failed): deploy the run's version.
        # ResourceInUseException here (a change started meanwhile) is retried by the state machine.
        personalize.update_campaign(
            arn, min_provisioned_tps=settings.campaign_min_tps, solution_version_arn=solution_version_arn
        )
        busy = "UPDATE PENDING"
    return _waiting(state, busy, served, settings)


def _raise_if_failed(campaign: dict[str, Any], solution_version_arn: str) -> None:
    arn, status = campaign["campaignArn"], str(campaign.get("status"))
    update = campaign.get("latestCampaignUpdate") or {}
    if is_failed(status):
        reason = str(campaign.get("failureReason") or "Personalize gave no reason").rstrip(".")
        raise JobFailed(
            f"Personalize campaign {arn} is {status}: {reason}; delete it (aws personalize delete-campaign) "
            "and start a new run, which creates it again."
        )
    if is_failed(update.get("status")) and update.get("solutionVersionArn") == solution_version_arn:
        reason = str(update.get("failureReason") or "Personalize gave no reason").rstrip(".")
        raise JobFailed(
            f"Personalize campaign {arn} could not be updated to solution version {solution_version_arn} "
            f"({update['status']}): {reason}. It still serves {campaign.get('solutionVersionArn')}."
        )
    if status != ACTIVE and not is_busy(status):
        raise UnexpectedJobStatus(
            f"Personalize campaign {arn} has status {status}, which the pipeline does not expect (is the stack "
            "deleting it?); look at the campaign in the Personalize console."
        )


def _waiting(state: CampaignState, status: str, served: str | None, settings: CampaignSettings) -> CampaignState:
    if state.waited_seconds >= CAMPAIGN_DEADLINE_SECONDS:
        raise DeadlineExceeded(
            f"Personalize campaign {state.arn} did not serve the run's solution version within "
            f"{CAMPAIGN_DEADLINE_SECONDS} s (still {status}); look at the campaign in the Personalize console."
        )
    polls = state.polls + 1
    # No history is kept for the campaign: the first-run rule of the job polls.
    wait = poll_wait_seconds(
        state.waited_seconds, polls, None, min_seconds=settings.poll_min_seconds, seed=str(state.arn)
    )
    wait = max(1, min(wait, CAMPAIGN_DEADLINE_SECONDS - state.waited_seconds))
    return state.model_copy(
        update={
            "status": status,
            "ready": False,
            "solution_version_arn": served,
            "polls": polls,
            "wait_seconds": wait,
            "waited_seconds": state.waited_seconds + wait,
        }
    )
