"""solution_resource: the CloudFormation custom resources of Personalize: the solution (performAutoTraining
off), the exclude-seen filter and the campaign (custom_resources.py dispatches on ResourceType)."""

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from recflow_lambda import cfn_response
from recflow_lambda.custom_resources import answer_request
from recflow_lambda.models import CustomResourceAddress, parse_event
from recflow_lambda.observability import logger, tracer
from recflow_lambda.solution import ensure_solution

# ensure_solution is re-exported for the offline runtime, which deploys the solution without CloudFormation.
__all__ = ["ensure_solution", "handler"]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Without these fields there is no one to answer: the only case that raises instead of answering.
    address = parse_event(CustomResourceAddress, event, "solution_resource")
    response = answer_request(event, address, context.get_remaining_time_in_millis, time.sleep)
    logger.info("answering CloudFormation", extra=response.model_dump())
    cfn_response.send(address.response_url, response)
    return response.model_dump()
