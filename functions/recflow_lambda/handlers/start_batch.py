"""start_batch: describe-or-create the run's batch inference job (with the exclude-seen filter when on)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.jobs import start_batch
from recflow_lambda.models import StartBatchEvent, parse_event
from recflow_lambda.observability import logger, tracer
from recflow_lambda.settings import BatchSettings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = BatchSettings.from_env()
    request = parse_event(StartBatchEvent, event, "start_batch")
    job = start_batch(request.run_id, request.input_uri, request.solution_version_arn, settings)
    logger.info("batch inference job", extra={"job": job.name, "arn": job.arn, "status": job.status})
    return job.model_dump()
