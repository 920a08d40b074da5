"""finish_run: write the run manifest and the latest pointer, and announce the successful run."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.finish import finish_run
from recflow_lambda.models import FinishRunEvent, parse_event
from recflow_lambda.observability import MetricUnit, logger, metrics, tracer
from recflow_lambda.settings import SolutionSettings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = SolutionSettings.from_env()
    request = parse_event(FinishRunEvent, event, "finish_run")
    manifest = finish_run(request, settings, now=datetime.now(UTC))
    metrics.add_metric(name="RunsSucceeded", unit=MetricUnit.Count, value=1)
    logger.info("run finished", extra={"run_id": manifest.run_id, "metrics": manifest.metrics})
    return manifest.model_dump()
