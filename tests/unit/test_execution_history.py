"""The newest value of each path the state machine keeps, read from an execution history's state exits."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from recflow.execution_history import latest_outputs

START = datetime(2026, 1, 1, tzinfo=UTC)


def _exit(second: int, name: str, output: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if output is not ...:
        details["output"] = output if isinstance(output, str) else json.dumps(output)
    return {
        "type": "TaskStateExited",
        "stateExitedEventDetails": details,
        "timestamp": START + timedelta(seconds=second),
    }


def test_each_path_keeps_the_value_of_the_newest_exit_that_set_it():
    # Given the import job's state polled twice, then training started
    history = [
        {"type": "ExecutionStarted", "executionStartedEventDetails": {"input": '{"run_id": "r"}'}},
        _exit(1, "Check data", {"run_id": "r", "data": {"users": 2}}),
        _exit(2, "Check import status", {"run_id": "r", "import": {"arn": "i", "status": "CREATE IN_PROGRESS"}}),
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Wait", "input": '{"import": "entered"}'}},
        _exit(3, "Check import status", {"run_id": "r", "import": {"arn": "i", "status": "ACTIVE"}}),
        _exit(4, "Start training", {"run_id": "r", "training": {"arn": "t", "status": "CREATE PENDING"}}),
    ]
    # Then each path holds its newest value; inputs of entered states are not outputs
    assert latest_outputs(history) == {
        "run_id": "r",
        "data": {"users": 2},
        "import": {"arn": "i", "status": "ACTIVE"},
        "training": {"arn": "t", "status": "CREATE PENDING"},
    }


def test_a_null_an_empty_exit_and_an_output_that_is_not_an_object_keep_what_was_there():
    history = [
        _exit(1, "Start import", {"import": {"arn": "i"}, "failed": {"phase": "import"}}),
        _exit(2, "Notify failure", {"import": None, "failed": {"phase": "train"}}),
        _exit(3, "Pass through", ...),  # no output key at all
        _exit(4, "Pass through", ""),
        _exit(5, "Run failed", ["not", "an", "object"]),
    ]
    assert latest_outputs(history) == {"import": {"arn": "i"}, "failed": {"phase": "train"}}
    assert latest_outputs([]) == {}
