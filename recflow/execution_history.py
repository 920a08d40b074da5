"""Reading a pipeline execution's history: which run phase each state belongs to, how long each phase
took, how often each Personalize job was polled and the newest value of each path the state machine keeps.
Used by the offline run summary and by `recflow aws` (so it imports no moto: the operator's tool runs against
AWS too).
"""

from __future__ import annotations

import json
from typing import Any, get_args

from recflow_lambda.naming import Phase as JobPhase
from recflow_lambda.naming import RunPhase

# Where the state machine keeps each Personalize phase's JobState, and the state that checks it.
JOB_PATHS: dict[JobPhase, str] = {"import": "import", "train": "training", "batch": "batch"}
JOB_CHECK_STATES: dict[JobPhase, str] = {
    "import": "Check import status",
    "train": "Check training status",
    "batch": "Check batch status",
}
# The run phase of every state of statemachine/pipeline.asl.json (tests/unit/test_contracts.py checks it).
STATE_PHASES: dict[str, RunPhase] = {
    "Check your batch input": "data",
    "Transform raw interactions": "etl",
    "Did the ETL succeed?": "etl",
    "ETL did not succeed": "etl",
    "ETL job failed": "etl",
    "ETL failed": "etl",
    "Check data": "data",
    "Is the batch input in place?": "data",
    "Prepare batch input": "data",
    "Data check failed": "data",
    "Start import": "import",
    "Check import status": "import",
    "Is the import done?": "import",
    "Wait for the import": "import",
    "Import failed": "import",
    "Start training": "train",
    "Check training status": "train",
    "Is training done?": "train",
    "Wait for training": "train",
    "Training failed": "train",
    "Start batch recommendations": "batch",
    "Check batch status": "batch",
    "Are recommendations ready?": "batch",
    "Wait for recommendations": "batch",
    "Batch failed": "batch",
    # Pointing the campaign at the run's version publishes the run, like its manifest: part of finishing it.
    "Point the campaign at the new version": "finish",
    "Is the campaign on the new version?": "finish",
    "Wait for the campaign": "finish",
    "Check the campaign": "finish",
    "Finish run": "finish",
    "Finish failed": "finish",
    "Run succeeded": "finish",
    # Failure handling after any phase is counted with finishing the run.
    "Is it a Step Functions error?": "finish",
    "Name the Step Functions error": "finish",
    "Notify failure": "finish",
    "Run failed": "finish",
}


def phase_of_state(name: str) -> RunPhase:
    """The run phase of a state of the state machine; an unknown state is an error, never a guess."""
    try:
        return STATE_PHASES[name]
    except KeyError:
        raise ValueError(
            f"The state machine entered state {name!r}, which recflow.execution_history.STATE_PHASES does not map "
            "to a run phase; add it there."
        ) from None


def polls_by_phase(history: list[dict[str, Any]]) -> dict[JobPhase, int]:
    """How often each job's status was checked: the entries into its check state (a failing check raises)."""
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e.get("type") == "TaskStateEntered"]
    return {phase: entered.count(state) for phase, state in JOB_CHECK_STATES.items()}


def wall_seconds_by_phase(history: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    entered: dict[str, Any] = {}
    for event in history:
        if "stateEnteredEventDetails" in event:
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            phase = phase_of_state(name)
            seconds = (event["timestamp"] - entered.pop(name, event["timestamp"])).total_seconds()
            totals[phase] = round(totals.get(phase, 0.0) + seconds, 3)
    # In the pipeline's order, not the order entered: the run's first state checks a batch input file (data)
    return {phase: totals[phase] for phase in get_args(RunPhase) if phase in totals}


def latest_outputs(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The newest value of each top-level path of the states' outputs (``etl``, ``training``, ``failed``…).

    A null in a later output does not replace an earlier value; an exit without output changes nothing.
    """
    latest: dict[str, Any] = {}
    for event in history:
        if "stateExitedEventDetails" in event:
            output = json.loads(event["stateExitedEventDetails"].get("output") or "null")
            if isinstance(output, dict):
                latest.update({key: value for key, value in output.items() if value is not None})
    return latest
