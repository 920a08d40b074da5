"""Step Functions adapter: start the pipeline once per run id."""

import json
from typing import Any

from recflow_lambda.clients import stepfunctions_client
from recflow_lambda.naming import execution_arn


def start_execution_once(state_machine_arn: str, name: str, execution_input: dict[str, Any]) -> tuple[str, bool]:
    """Start an execution called ``name``; return (execution ARN, whether this call started it).

    The execution name is the run id, so Step Functions itself refuses a second execution of the same
    run: ExecutionAlreadyExists returns started=False. (Same name and same input while the execution
    runs is not refused but answered with that execution: callers make the inputs of distinct
    deliveries differ.)
    """
    client = stepfunctions_client()
    try:
        response = client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input)
        )
    except client.exceptions.ExecutionAlreadyExists:
        return execution_arn(state_machine_arn, name), False
    return response["executionArn"], True


def execution_status(execution_arn: str) -> str | None:
    """The execution's status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED…); None when it does not exist."""
    client = stepfunctions_client()
    try:
        status: str = client.describe_execution(executionArn=execution_arn)["status"]
    except client.exceptions.ExecutionDoesNotExist:
        return None
    return status
