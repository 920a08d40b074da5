"""start_run: an upload under raw/, a schedule or the end of a run (EventBridge): at most one run in flight."""

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
    outcome = "RunsStarted" if result.started else "TriggersQueued" if result.queued else "TriggersSkipped"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    logger.info("trigger handled", extra=result.model_dump())
    return result.model_dump()
