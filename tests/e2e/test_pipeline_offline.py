"""The real pipeline, offline: trigger, state machine, handlers, transform and local Personalize."""

import json

import pytest

from recflow.offline.runtime import OfflineRunError, RunRequest, run
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

USERS = 120


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    generate(path, users=USERS, items=400, interactions=12_000, seed=3)
    return path


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("users") / "users.json"
    path.write_text('{"userId": "1"}\n{"userId": "2"}\n{"userId": "no-such-user"}\n')
    return path


def _request(raw_file, lake, **kwargs):
    return RunRequest(raw_files=[raw_file], lake=lake, time_scale=0, **kwargs)


def _out_lines(lake, summary):
    (key,) = summary.recommendations
    return [json.loads(line) for line in (lake / key).read_text().splitlines()]


def test_a_run_recommends_for_every_requested_user_in_personalize_batch_format(raw_file, users_file, tmp_path):
    # Given a lake and a users file with a cold user
    lake = tmp_path / "lake"
    # When the pipeline runs
    summary = run(_request(raw_file, lake, users_file=users_file))
    # Then the execution succeeded and the .out file has one Personalize line per requested user
    assert summary.status == "SUCCEEDED", summary.cause
    assert summary.recommendations == [f"recommendations/{summary.run_id}/users.json.out"]
    lines = _out_lines(lake, summary)
    assert [line["input"] for line in lines] == [{"userId": "1"}, {"userId": "2"}, {"userId": "no-such-user"}]
    for line in lines:
        assert set(line) == {"input", "output", "error"} and line["error"] is None
        items, scores = line["output"]["recommendedItems"], line["output"]["scores"]
        assert len(items) == 25 == len(set(items))
        assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    # And the summary on disk tells the phases, counts and metrics
    written = json.loads((lake / "runs" / summary.run_id / "summary.json").read_text())
    assert written["run_id"] == summary.run_id and written["status"] == "SUCCEEDED"
    assert {p: written["phases"][p]["status"] for p in ("etl", "import", "train", "batch")} == {
        "etl": "SUCCEEDED",
        "import": "ACTIVE",
        "train": "ACTIVE",
        "batch": "ACTIVE",
    }
    assert written["phases"]["train"]["job_seconds"] == 600
    assert written["phases"]["train"]["detected_after_seconds"] >= 600
    assert written["counts"]["users"] == USERS
    assert written["counts"]["interactions"] > 10_000
    assert 0 < written["metrics"]["normalized_discounted_cumulative_gain_at_25"] <= 1
    # and which model was trained, and why: the cost estimates the algorithm was chosen on
    training = written["training"]
    assert training["algorithm"] == "ease" and training["penalty"] > 0
    assert training["decision"].startswith(("ease-users: the cheaper EASE solve", "ease-items: the cheaper EASE solve"))
    assert all(f"{name} ~" in training["decision"] for name in ("ease-items", "ease-users", "als"))
    assert written["state_transitions"] > 15
    latest = json.loads((lake / "recommendations" / "latest.json").read_text())
    assert latest["run_id"] == summary.run_id


def test_without_a_users_file_every_user_of_the_data_gets_recommendations(raw_file, tmp_path):
    summary = run(_request(raw_file, tmp_path / "lake"))
    assert summary.status == "SUCCEEDED", summary.cause
    lines = _out_lines(tmp_path / "lake", summary)
    assert len({line["input"]["userId"] for line in lines}) == USERS


def test_a_second_run_keeps_the_first_runs_outputs(raw_file, tmp_path):
    lake = tmp_path / "lake"
    first = run(_request(raw_file, lake))
    first_out = (lake / first.recommendations[0]).read_bytes()
    second = run(_request(raw_file, lake))  # the same file again: a new upload, a new run
    assert second.status == first.status == "SUCCEEDED"
    assert second.run_id != first.run_id
    assert (lake / first.recommendations[0]).read_bytes() == first_out
    assert (lake / "runs" / first.run_id / "summary.json").is_file()
    assert json.loads((lake / "recommendations" / "latest.json").read_text())["run_id"] == second.run_id


def test_a_file_below_personalize_minimums_fails_the_data_check_with_a_clear_cause(tmp_path):
    small = tmp_path / "small.dat"
    small.write_text(
        "userID\tmovieID\trating\ttimestamp\n"
        + "".join(f"{u}\t{i}\t4\t1162160236000\n" for u in range(10) for i in range(5))
    )
    summary = run(_request(small, tmp_path / "lake"))
    assert (summary.status, summary.failed_phase, summary.error) == ("FAILED", "data", "DataCheckFailed")
    assert "has 50 interactions" in summary.cause and "at least 1000" in summary.cause


def test_bad_requests_are_refused_with_one_sentence(raw_file, tmp_path):
    with pytest.raises(OfflineRunError, match="does not exist"):
        run(RunRequest(raw_files=[tmp_path / "missing.dat"], lake=tmp_path))
    with pytest.raises(OfflineRunError, match="unknown fault"):
        run(RunRequest(raw_files=[raw_file], lake=tmp_path, faults={"train": "explode"}))
    with pytest.raises(OfflineRunError, match="unknown fault etl:busy"):
        run(RunRequest(raw_files=[raw_file], lake=tmp_path, faults={"etl": "busy"}))


# Failing faults are tested in test_run_failures.py, with their notification and the lake they leave.
@pytest.mark.parametrize("phase", ["etl", "import", "train", "batch"])
def test_throttling_in_any_phase_is_retried_to_success(raw_file, tmp_path, phase):
    summary = run(_request(raw_file, tmp_path / "lake", faults={phase: "throttle"}))
    assert (summary.status, summary.error) == ("SUCCEEDED", None), summary.cause
    if phase != "etl":
        assert summary.phases[phase].status == "ACTIVE"


def test_several_raw_files_make_one_run_and_every_input_is_kept_in_the_lake(raw_file, users_file, tmp_path):
    # Given the raw data split over two files
    lines = raw_file.read_text().splitlines(keepends=True)
    first, second = tmp_path / "part-a.dat", tmp_path / "part-b.dat"
    first.write_text("".join(lines[: len(lines) // 2]))
    second.write_text(lines[0] + "".join(lines[len(lines) // 2 :]))
    lake = tmp_path / "lake"
    # When they are run together
    summary = run(RunRequest(raw_files=[first, second], lake=lake, users_file=users_file, time_scale=0))
    # Then one run read both, and the lake keeps both raw files and the users file
    assert summary.status == "SUCCEEDED", summary.cause
    # The state payload carries the count; the list of files stays in the report in S3.
    assert summary.counts["source_file_count"] == 2
    report = json.loads((lake / "transformed" / summary.run_id / "report.json").read_text())
    assert report["source_files"] == ["raw/part-a.dat", "raw/part-b.dat"]
    assert summary.counts["lines_read"] == len(lines) + 1
    assert (lake / "raw" / "part-a.dat").read_bytes() == first.read_bytes()
    assert (lake / "raw" / "part-b.dat").read_bytes() == second.read_bytes()
    assert (lake / "batch_users_input" / "users.json").read_bytes() == users_file.read_bytes()
