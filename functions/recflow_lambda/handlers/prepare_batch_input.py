"""prepare_batch_input: put in place the users (or items) the batch inference job scores."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.batch_input import prepare_batch_input
from recflow_lambda.models import PrepareBatchInputEvent, parse_event
from recflow_lambda.observability import logger, tracer
from recflow_lambda.settings import Settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    settings = Settings.from_env()
    request = parse_event(PrepareBatchInputEvent, event, "prepare_batch_input")
    if request.before_etl and not settings.batch_users_key:
        return None  # the ETL lists the users (or items): the state after the data check copies them
    batch_input = prepare_batch_input(
        request.run_id, settings.data_bucket, settings.recipe_arn, settings.batch_users_key
    )
    logger.info("batch input in place", extra=batch_input.model_dump())
    return batch_input.model_dump()
