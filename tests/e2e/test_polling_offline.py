"""Polling that learns, through the whole offline pipeline: the second run on a lake polls less, and sooner."""

import json

import pytest

from recflow.offline.runtime import RunRequest, run
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

TRAINING_SECONDS = 7200.0


def test_a_second_run_learns_the_phase_durations_of_the_first(tmp_path):
    # Given a lake and a 2-hour training (import and batch keep the local Personalize's defaults)
    raw = tmp_path / "ratings.dat"
    generate(raw, users=60, items=200, interactions=3_000, seed=3)
    lake = tmp_path / "lake"

    def pipeline_run():
        request = RunRequest(raw_files=[raw], lake=lake, time_scale=0, job_seconds={"train": TRAINING_SECONDS})
        summary = run(request)
        assert summary.status == "SUCCEEDED", summary.cause
        return summary

    # When the pipeline runs twice on it
    first = pipeline_run()
    history = json.loads((lake / "history" / "phase-durations.json").read_text())
    second = pipeline_run()

    # Then the first run recorded how long each job ran at least...
    assert {phase: [entry["run_id"] for entry in runs] for phase, runs in history["phases"].items()} == {
        "import": [first.run_id],
        "train": [first.run_id],
        "batch": [first.run_id],
    }
    assert TRAINING_SECONDS * 0.9 <= history["phases"]["train"][0]["seconds"] < TRAINING_SECONDS
    # ...noticed every end within max(60 s, 10%) with no history, and the second run within max(30 s, 2%)
    for summary, share, floor, most_polls in ((first, 0.10, 60, 100), (second, 0.02, 30, 15)):
        for phase in ("import", "train", "batch"):
            job = summary.phases[phase]
            assert job.job_seconds is not None and job.detected_after_seconds is not None
            assert 0 <= job.detected_after_seconds - job.job_seconds <= max(floor, share * job.job_seconds), phase
            assert job.polls <= most_polls, phase
    # And the second run polled less in every phase, and took fewer state transitions (both under 500)
    assert all(second.phases[p].polls < first.phases[p].polls for p in ("import", "train", "batch"))
    assert second.phases["train"].polls <= 10 < 30 <= first.phases["train"].polls
    assert second.state_transitions < first.state_transitions < 500
