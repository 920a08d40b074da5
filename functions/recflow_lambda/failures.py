"""notify_failure: tell the operators which phase of which run failed, and why."""

import json

from recflow_lambda import notify
from recflow_lambda.models import FailureEvent, FailureNotice


def failure_message(event: FailureEvent) -> str:
    cause = readable_cause(event.cause)
    return f"recflow run {event.run_id} failed in phase {event.phase}: {event.error}: {cause}"


def readable_cause(cause: str | None) -> str:
    """The sentence inside a Step Functions error cause.

    A Lambda error's cause is the JSON ``{"errorMessage", "errorType", "stackTrace"}``: operators get the
    message, not the stack trace. Glue's is the job run (with ``ErrorMessage``). Anything else is kept whole.
    """
    if not cause:
        return "no cause was reported"
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    if isinstance(parsed, dict):
        for field in ("errorMessage", "ErrorMessage"):
            message = parsed.get(field)
            if isinstance(message, str):
                return message
    return cause


def notify_failure(event: FailureEvent, topic_arn: str) -> FailureNotice:
    notify.publish(topic_arn, f"recflow run {event.run_id} failed", failure_message(event))
    return FailureNotice(notified=True)
