"""The one place that creates the Powertools logger, tracer and metrics shared by every handler."""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()  # service name: POWERTOOLS_SERVICE_NAME
tracer = Tracer()  # off outside Lambda and under POWERTOOLS_TRACE_DISABLED=true
# Powertools reads the namespace once, when this module is imported. The offline runtime and the tests
# may import the handlers before they set POWERTOOLS_METRICS_NAMESPACE; "recflow" is the template's value.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "recflow")

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
