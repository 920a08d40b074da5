"""start_training: describe-or-create the run's FULL solution version."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.jobs import start_training
from recflow_lambda.models import RunEvent, parse_event
from recflow_lambda.observability import logger, tracer
from recflow_lambda.settings import SolutionSettings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = SolutionSettings.from_env()
    request = parse_event(RunEvent, event, "start_training")
    job = start_training(request.run_id, settings)
    logger.info("training job", extra={"job": job.name, "arn": job.arn, "status": job.status})
    return job.model_dump()
