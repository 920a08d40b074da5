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
