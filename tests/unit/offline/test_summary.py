"""The run summary reads phases, polls and the failure from the execution history."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from recflow.execution_history import phase_of_state, polls_by_phase, wall_seconds_by_phase
from recflow.offline.clock import SimClock
from recflow.offline.glue_local import GlueLocal
from recflow.offline.summary import _job_phases, build_summary
from recflow.personalize_local.backend import PersonalizeBackend
from recflow.personalize_local.trainer import default_trainer
from recflow.run_summary import Summary

START = datetime(2026, 1, 1)


def _history(names: list[str]) -> list[dict[str, Any]]:
    """Each state is entered, then exited one second later; Task states are typed as Step Functions does."""
    history = []
    for i, name in enumerate(names):
        kind = "Task" if name.startswith(("Check", "Start", "Transform", "Prepare", "Finish", "Notify")) else "Pass"
        history.append(
            {
                "type": f"{kind}StateEntered",
                "stateEnteredEventDetails": {"name": name},
                "timestamp": START + timedelta(seconds=2 * i),
            }
        )
        history.append(
            {
                "type": f"{kind}StateExited",
                "stateExitedEventDetails": {"name": name},
                "timestamp": START + timedelta(seconds=2 * i + 1),
            }
        )
    return history


def test_wall_seconds_are_summed_per_phase_from_the_state_names():
    # Given a history where each state takes one second
    history = _history(
        [
            "Transform raw interactions",
            "Did the ETL succeed?",
            "Check data",
            "Prepare batch input",
            "Start import",
            "Wait for the import",
            "Is training done?",
            "Start batch recommendations",
            "Check batch status",
            "Batch failed",
            "Is it a Step Functions error?",
            "Notify failure",
        ]
    )
    # Then the seconds add up by phase, failure handling counting as finish
    assert wall_seconds_by_phase(history) == {
        "etl": 2.0,
        "data": 2.0,
        "import": 2.0,
        "train": 1.0,
        "batch": 3.0,
        "finish": 2.0,
    }


def test_a_state_the_summary_does_not_know_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="entered state 'Deploy campaign', which .* does not map"):
        wall_seconds_by_phase(_history(["Check data", "Deploy campaign"]))
    assert phase_of_state("Run failed") == "finish"


def test_polls_are_the_entries_into_each_check_state_including_the_one_that_raised():
    # Given an import checked three times (the last check raised JobFailed) and nothing else checked
    history = _history(
        ["Start import", *["Check import status", "Is the import done?", "Wait for the import"] * 2]
        + ["Check import status", "Import failed"]
    )
    # Then the summary counts three import polls, none for the other phases
    assert polls_by_phase(history) == {"import": 3, "train": 0, "batch": 0}


def test_a_failed_job_reports_the_status_personalize_ended_it_in_and_its_polls():
    # Given the state machine last saw the training job running, and the local Personalize ended it in CREATE FAILED
    arn = "arn:aws:personalize:us-east-1:123456789012:solution/s/1"
    latest = {"training": {"phase": "train", "arn": arn, "status": "CREATE IN_PROGRESS", "waited_seconds": 300}}
    records = [{"arn": arn, "status": "CREATE FAILED", "job_seconds": 42.0}]
    # When the job phases are built
    phases = _job_phases(latest, records, {"import": 0, "train": 4, "batch": 0})
    # Then training tells the final status, the duration and the polls; the phases never started say so
    train = phases["train"]
    assert (train.status, train.job_seconds, train.detected_after_seconds, train.polls) == (
        "CREATE FAILED",
        42.0,
        300,
        4,
    )
    assert phases["import"].status == phases["batch"].status == "NOT_STARTED"


def test_the_summary_records_when_the_execution_started_in_utc_and_what_its_states_last_output(tmp_path):
    # Given an execution started at 10:00 in UTC+2 that failed in training, with no ETL run and no Personalize jobs
    started = datetime(2026, 3, 1, 10, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    arn = "arn:aws:states:us-east-1:123456789012:execution:machine:ratings-1"
    history = _history(["Check data", "Start training", "Training failed"])
    history[1]["stateExitedEventDetails"]["output"] = json.dumps({"data": {"users": 30}, "failed": None})
    history[3]["stateExitedEventDetails"]["output"] = json.dumps(
        {"training": {"arn": "t", "status": "CREATE PENDING", "waited_seconds": 0}}
    )
    history[5]["stateExitedEventDetails"]["output"] = json.dumps({"failed": {"phase": "train"}})
    execution = {"name": "ratings-1", "status": "FAILED", "startDate": started, "executionArn": arn}
    clock = SimClock(start=0)
    personalize = PersonalizeBackend(
        "123456789012", "us-east-1", clock=clock, s3=lambda: None, schemas=lambda _: None, trainer=default_trainer()
    )
    # When the summary is built and written
    summary = build_summary(history, execution, 1.234, GlueLocal(clock), personalize, lake_keys=[])
    written = Summary.model_validate_json(summary.write(tmp_path).read_bytes())
    # Then it started at 08:00 UTC, on disk too, and the phases come from the states' newest outputs
    assert written.started == datetime(2026, 3, 1, 8, 0, 0, 250_000, tzinfo=UTC)
    assert written.started.utcoffset() == timedelta(0)
    assert (written.run_id, written.status, written.wall_seconds, written.failed_phase) == (
        "ratings-1",
        "FAILED",
        1.23,
        "train",
    )
    assert written.counts == {"users": 30}
    assert {phase: p.status for phase, p in written.phases.items()} == {
        "etl": "NOT_STARTED",
        "import": "NOT_STARTED",
        "train": "CREATE PENDING",
        "batch": "NOT_STARTED",
    }
