"""point_campaign: bring the stack's campaign one step closer to serving the run's solution version."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.campaign import point_campaign
from recflow_lambda.models import PointCampaignEvent, parse_event
from recflow_lambda.observability import logger, tracer
from recflow_lambda.settings import CampaignSettings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = CampaignSettings.from_env()
    request = parse_event(PointCampaignEvent, event, "point_campaign")
    state = point_campaign(request.solution_version_arn, request.campaign, settings)
    logger.info(
        "campaign",
        extra={"campaign": state.arn, "status": state.status, "ready": state.ready, "wait_seconds": state.wait_seconds},
    )
    return state.model_dump()
