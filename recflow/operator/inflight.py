"""The run in flight, from the stack's state/run-lock.json (see functions/recflow_lambda/runs.py).

`recflow aws run --raw` uploads files; the first starts a run unless one is in flight, the others wait
and one follow-up run covers them when that run ends. The operator follows that chain to the run that
covers its uploads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from recflow_lambda.models import RunLock
from recflow_lambda.run_lock import LOCK_KEY

from recflow.operator.stack import Stack


def read_lock(stack: Stack) -> RunLock | None:
    """The lock; None when there is none (no run yet, or a stack deployed before it existed)."""
    s3 = stack.client("s3")
    try:
        body = s3.get_object(Bucket=stack.bucket, Key=LOCK_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return RunLock.model_validate(json.loads(body))


def run_in_flight(stack: Stack) -> dict[str, Any] | None:
    """describe_execution of the lock's run while it is RUNNING; None when no run is in flight."""
    lock = read_lock(stack)
    if lock is None or lock.execution_arn is None:
        return None
    described = dict(stack.client("stepfunctions").describe_execution(executionArn=lock.execution_arn))
    return described if described["status"] == "RUNNING" else None


def follow_up_of(
    stack: Stack, execution_arn: str, timeout: float, sleep: Callable[[float], None]
) -> dict[str, Any] | None:
    """The follow-up run that the end of ``execution_arn`` started (describe_execution), or None when its end
    released the lock. Waits up to ``timeout`` seconds for the function to handle the end event."""
    waited = 0.0
    while (lock := read_lock(stack)) is not None and lock.execution_arn == execution_arn and waited < timeout:
        sleep(1.0)
        waited += 1.0
    if lock is None or lock.execution_arn in (None, execution_arn):
        return None
    described = dict(stack.client("stepfunctions").describe_execution(executionArn=lock.execution_arn))
    trigger = json.loads(described.get("input") or "{}").get("trigger", {})
    return described if trigger.get("after") == execution_arn else None
