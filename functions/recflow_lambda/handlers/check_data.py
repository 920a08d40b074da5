"""check_data: the ETL report of a run, or DataCheckFailed when Personalize could not train on it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda.data_check import check_data
from recflow_lambda.models import CheckDataEvent, parse_event
from recflow_lambda.observability import MetricUnit, logger, metrics, tracer
from recflow_lambda.settings import Settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    request = parse_event(CheckDataEvent, event, "check_data")
    report = check_data(request.run_id, request.etl_state, settings.data_bucket)
    metrics.add_metric(name="Interactions", unit=MetricUnit.Count, value=report.interactions)
    metrics.add_metric(name="RejectedLines", unit=MetricUnit.Count, value=report.rejected)
    logger.info("data checked", extra={"run_id": request.run_id, "interactions": report.interactions})
    # Counts, not the list of raw files: it grows with every upload, and the state payload may not pass 256 KiB.
    return {**report.model_dump(exclude={"source_files"}), "source_file_count": len(report.source_files)}
