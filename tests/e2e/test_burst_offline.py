"""A burst of uploads, offline: at most one run in flight, one follow-up run covering what arrived meanwhile."""

import json
from pathlib import Path

import pytest

from recflow.offline.runtime import RunRequest, run
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

FILES = 10


@pytest.fixture(scope="module")
def burst(tmp_path_factory) -> list[Path]:
    """Ten daily files; together above Personalize's minimums."""
    folder = tmp_path_factory.mktemp("burst")
    paths = []
    for day in range(FILES):
        path = folder / f"ratings-day{day:02d}.dat"
        generate(path, users=40, items=200, interactions=1_200, seed=day)
        paths.append(path)
    return paths


def reports(lake: Path) -> dict[str, dict]:
    """transformed/<run-id>/report.json of every run that did its ETL, by run id."""
    return {path.parent.name: json.loads(path.read_text()) for path in (lake / "transformed").glob("*/report.json")}


def test_a_burst_of_ten_uploads_gives_at_most_two_runs_and_the_last_sees_every_file(burst, tmp_path):
    # Given ten files uploaded one by one, each an S3 event
    lake = tmp_path / "lake"

    # When the pipeline runs them
    summary = run(RunRequest(raw_files=burst, lake=lake, time_scale=0, upload_each=True))

    # Then at most two runs did their ETL, and the last one (a follow-up) read all ten files
    assert summary.status == "SUCCEEDED", summary.cause
    runs = reports(lake)
    assert 1 <= len(runs) <= 2, sorted(runs)
    last = runs[summary.run_id]
    assert sorted(Path(key).name for key in last["source_files"]) == sorted(path.name for path in burst)
    if len(runs) == 2:
        assert summary.run_id.startswith("followup-")
    # And the lock is released, with every upload's run id among the triggers covered
    lock = json.loads((lake / "state" / "run-lock.json").read_text())
    assert lock["execution_arn"] is None and lock["pending"] == []
    assert len(lock["recent"]) == FILES


def test_uploads_that_waited_for_a_failed_run_get_their_follow_up_run(burst, tmp_path):
    # Given every training fails, When three files are uploaded one by one
    lake = tmp_path / "lake"
    summary = run(RunRequest(raw_files=burst[:3], lake=lake, time_scale=0, upload_each=True, faults={"train": "fail"}))

    # Then the first run failed in training, and its end still started the follow-up, which read all three files
    runs = reports(lake)
    assert len(runs) == 2, sorted(runs)
    assert summary.run_id.startswith("followup-") and summary.status == "FAILED"
    assert summary.failed_phase == "train"
    assert len(runs[summary.run_id]["source_files"]) == 3
