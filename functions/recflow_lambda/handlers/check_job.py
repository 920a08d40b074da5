"""check_job: poll a Personalize job once; return its next JobState, or raise when it cannot succeed."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.jobs import check_job
from recflow_lambda.models import CheckJobEvent, parse_event
from recflow_lambda.observability import logger, tracer
from recflow_lambda.settings import Settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    request = parse_event(CheckJobEvent, event, "check_job")
    job = check_job(request.job, settings)
    logger.info(
        "job polled",
        extra={"job": job.name, "status": job.status, "polls": job.polls, "wait_seconds": job.wait_seconds},
    )
    return job.model_dump()
