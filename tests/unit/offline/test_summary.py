from datetime import datetime, timedelta

from recflow.offline.summary import _wall_seconds_by_phase


def test_wall_seconds_are_summed_per_phase_from_the_state_names():
    # Given a history where each state takes one second
    names = [
        "Transform raw interactions",
        "Did the ETL succeed?",
        "Check data",
        "Prepare batch input",
        "Start import",
        "Wait for the import",
        "Is training done?",
        "Start batch recommendations",
        "Batch did not succeed",
        "Batch failed",
        "Notify failure",
    ]
    start = datetime(2026, 1, 1)
    history = []
    for i, name in enumerate(names):
        history.append({"stateEnteredEventDetails": {"name": name}, "timestamp": start + timedelta(seconds=2 * i)})
        history.append({"stateExitedEventDetails": {"name": name}, "timestamp": start + timedelta(seconds=2 * i + 1)})
    # Then the seconds add up by phase, case-insensitively, and the rest is "finish"
    assert _wall_seconds_by_phase(history) == {
        "etl": 2.0,
        "data": 2.0,
        "import": 2.0,
        "train": 1.0,
        "batch": 3.0,
        "finish": 1.0,
    }
