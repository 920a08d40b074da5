"""notify_failure: publish which phase of a run failed, and why, to the notification topic."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.failures import notify_failure
from recflow_lambda.models import FailureEvent, parse_event
from recflow_lambda.observability import MetricUnit, logger, metrics, tracer
from recflow_lambda.settings import Settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    failure = parse_event(FailureEvent, event, "notify_failure")
    notice = notify_failure(failure, settings.notification_topic_arn)
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)
    logger.info("failure notified", extra=failure.model_dump())
    return notice.model_dump()
