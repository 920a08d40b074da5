"""What `recflow aws status --follow` shows from an execution history: the state, its phase, the jobs' polls."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from recflow.operator.runs import progress

START = datetime(2026, 1, 1, tzinfo=UTC)


def _history(states: list[tuple[str, dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """Each state entered, then (when it has an output) exited one second later."""
    history: list[dict[str, Any]] = []
    for i, (name, output) in enumerate(states):
        at = START + timedelta(seconds=2 * i)
        history.append({"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}, "timestamp": at})
        if output is not None:
            details = {"name": name, "output": json.dumps(output)}
            history.append(
                {"type": "TaskStateExited", "stateExitedEventDetails": details, "timestamp": at + timedelta(seconds=1)}
            )
    return history


def test_progress_tells_the_current_state_and_each_jobs_last_status_wait_and_polls():
    # Given an import polled twice to ACTIVE and a training job checked once, its second check under way
    pending = {"arn": "t", "status": "CREATE PENDING", "waited_seconds": 0}
    running = {"arn": "t", "status": "CREATE IN_PROGRESS", "waited_seconds": 60}
    events = _history(
        [
            ("Check data", {"data": {"users": 30}}),
            ("Start import", {"import": {"arn": "i", "status": "CREATE PENDING", "waited_seconds": 0}}),
            ("Check import status", {"import": {"arn": "i", "status": "CREATE IN_PROGRESS", "waited_seconds": 60}}),
            ("Check import status", {"import": {"arn": "i", "status": "ACTIVE", "waited_seconds": 120}}),
            ("Start training", {"training": pending}),
            ("Check training status", {"training": running}),
            ("Check training status", None),
        ]
    )

    shown = progress(events, "RUNNING")

    assert (shown.status, shown.state, shown.phase) == ("RUNNING", "Check training status", "train")
    assert shown.jobs == {
        "import": {"status": "ACTIVE", "waited_seconds": 120, "polls": 2},
        "train": {"status": "CREATE IN_PROGRESS", "waited_seconds": 60, "polls": 2},
    }
    assert shown.phase_seconds == {"data": 1.0, "import": 3.0, "train": 2.0}


def test_progress_before_any_state_shows_nothing_yet():
    shown = progress([{"type": "ExecutionStarted", "timestamp": START}], "RUNNING")
    assert (shown.state, shown.phase, shown.jobs, shown.phase_seconds) == (None, None, {}, {})


def test_a_failed_run_tells_its_phase_error_and_the_lambdas_message_not_its_stack_trace():
    # Given a run whose training check raised JobFailed (Lambda's cause: JSON with the stack trace)
    from recflow.operator.runs import failure_of

    message = "Personalize training job recflow-r-1-train failed in phase train: out of memory."
    cause = json.dumps({"errorType": "JobFailed", "errorMessage": message, "stackTrace": ["  File x.py"]})
    events = _history([("Training failed", {"failed": {"phase": "train"}}), ("Run failed", None)])
    events.append({"type": "ExecutionFailed", "executionFailedEventDetails": {"error": "JobFailed", "cause": cause}})

    # When the operator reads the history, then it has the one sentence
    failure = failure_of(events)
    assert failure is not None
    assert failure.sentence() == f"failed in phase train: JobFailed: {message}"
    assert progress(events, "FAILED").failure == failure
    assert failure_of(events[:-1]) is None  # still running: no failure yet
