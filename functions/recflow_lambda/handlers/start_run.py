"""start_run: an upload under raw/ or a schedule (EventBridge) starts one pipeline execution."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.models import TriggerEvent, parse_event
from recflow_lambda.observability import MetricUnit, logger, metrics, tracer
from recflow_lambda.runs import start_run
from recflow_lambda.settings import StartRunSettings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = StartRunSettings.from_env()
    trigger = parse_event(TriggerEvent, event, "start_run").root
    result = start_run(trigger, settings, context.aws_request_id)
    metrics.add_metric(name="RunsStarted" if result.started else "TriggersSkipped", unit=MetricUnit.Count, value=1)
    logger.info("trigger handled", extra=result.model_dump())
    return result.model_dump()
