"""start_import: describe-or-create the run's FULL dataset import job."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.jobs import start_import
from recflow_lambda.models import RunEvent, parse_event
from recflow_lambda.observability import logger, tracer
from recflow_lambda.settings import Settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    request = parse_event(RunEvent, event, "start_import")
    job = start_import(request.run_id, settings)
    logger.info("import job", extra={"job": job.name, "arn": job.arn, "status": job.status})
    return job.model_dump()
