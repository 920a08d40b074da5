"""Start-run events that failed every retry: read them from the dead-letter queue and replay them.

Both senders put the event itself in the message body: Lambda (after its asynchronous retries, attributes
RequestID/ErrorCode/ErrorMessage) and EventBridge (a target it could not invoke, attributes ERROR_CODE/
ERROR_MESSAGE/RULE_ARN). Replaying invokes the start_run function with the event, oldest first, and
deletes a message only once the function handled it: start_run refuses duplicates, so replaying an event
that did start a run meanwhile starts nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recflow.operator.stack import OperatorError, Stack

QUEUE_OUTPUT = "StartRunDeadLetterQueueUrl"
FUNCTION_OUTPUT = "StartRunFunctionName"
# How long a listed message stays hidden from other readers while this command holds it.
HOLD_SECONDS = 60
_ERROR_ATTRIBUTES = ("ErrorMessage", "ERROR_MESSAGE")


@dataclass
class DeadLetter:
    message_id: str
    receipt_handle: str
    event: dict[str, Any]
    error: str | None
    sent: datetime | None

    def describe(self) -> str:
        """One line: what the event was."""
        kind, detail = self.event.get("detail-type"), self.event.get("detail") or {}
        if kind == "Object Created":
            return f"upload s3://{detail.get('bucket', {}).get('name')}/{detail.get('object', {}).get('key')}"
        if kind == "Step Functions Execution Status Change":
            return f"end of run {detail.get('name')} ({detail.get('status')})"
        if kind == "Scheduled Event":
            return f"schedule at {self.event.get('time')}"
        return f"{kind or 'unknown'} event"


@dataclass
class Replayed:
    letter: DeadLetter
    outcome: str  # what start_run answered, or why the replay failed
    ok: bool


def receive(stack: Stack, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` messages, oldest first; held for HOLD_SECONDS (``release`` makes them visible again)."""
    sqs, url = stack.client("sqs"), _queue_url(stack)
    letters: dict[str, DeadLetter] = {}
    while len(letters) < limit:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(letters)),
            VisibilityTimeout=HOLD_SECONDS,
            MessageAttributeNames=["All"],
            AttributeNames=["SentTimestamp"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            letters[message["MessageId"]] = _letter(message)
    return sorted(letters.values(), key=lambda letter: letter.sent or datetime.min.replace(tzinfo=UTC))


def release(stack: Stack, letters: list[DeadLetter]) -> None:
    """Make listed messages visible again at once (listing them must not hide them from a replay)."""
    sqs, url = stack.client("sqs"), _queue_url(stack)
    for letter in letters:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0)


def replay(stack: Stack, letters: list[DeadLetter]) -> list[Replayed]:
    """Invoke start_run with each event in turn; delete the messages it handled, release the others."""
    function = stack.outputs.get(FUNCTION_OUTPUT)
    if not function:
        raise OperatorError(f"stack {stack.name!r} has no output {FUNCTION_OUTPUT}: deploy the current template")
    lam, sqs, url = stack.client("lambda"), stack.client("sqs"), _queue_url(stack)
    results = []
    for letter in letters:
        reply = lam.invoke(FunctionName=function, Payload=json.dumps(letter.event).encode())
        answer = json.loads(reply["Payload"].read() or b"null")
        if reply.get("FunctionError"):
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0)
            failure = f"{answer.get('errorType')}: {answer.get('errorMessage')}" if isinstance(answer, dict) else answer
            results.append(Replayed(letter, f"failed again ({failure}); kept in the queue", ok=False))
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
        results.append(Replayed(letter, _outcome(answer), ok=True))
    return results


def _outcome(answer: Any) -> str:
    if not isinstance(answer, dict):
        return "handled"
    if answer.get("started"):
        return f"started run {answer.get('run_id')}"
    if answer.get("queued"):
        return f"waits for the run in flight ({answer.get('reason')})"
    return f"started nothing: {answer.get('reason')}"


def _queue_url(stack: Stack) -> str:
    url = stack.outputs.get(QUEUE_OUTPUT)
    if not url:
        raise OperatorError(f"stack {stack.name!r} has no output {QUEUE_OUTPUT}: deploy the current template")
    return url


def _letter(message: dict[str, Any]) -> DeadLetter:
    attributes = message.get("MessageAttributes", {})
    error = next((attributes[name]["StringValue"] for name in _ERROR_ATTRIBUTES if name in attributes), None)
    sent_ms = message.get("Attributes", {}).get("SentTimestamp")
    try:
        event = json.loads(message["Body"])
    except json.JSONDecodeError:
        event = {"detail-type": "unreadable", "body": message["Body"][:200]}
    return DeadLetter(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        event=event if isinstance(event, dict) else {"body": event},
        error=error,
        sent=datetime.fromtimestamp(int(sent_ms) / 1000, UTC) if sent_ms else None,
    )
