"""The wait policy of check_job (job_status.py) over whole jobs: lag and polls, with and without history."""

import pytest
from recflow_lambda.errors import DeadlineExceeded
from recflow_lambda.job_status import next_job_state, poll_wait_seconds
from recflow_lambda.models import Expectation, JobState
from recflow_lambda.phase_history import PhaseHistory

from recflow.offline.stack import TEMPLATE
from recflow.offline.template import Template, TemplateError

ARN = "arn:aws:personalize:us-east-1:123456789012:solution/recflow-solution/1a2b3c4d"
DAY = 86_400
DEADLINES = ("ImportDeadlineSeconds", "TrainingDeadlineSeconds", "BatchDeadlineSeconds")
# 3 min, 20 min, 45 min, 2 h, 10 h, and odd ones in between
DURATIONS = [65, 180, 599, 1200, 2700, 4000, 7200, 20_000, 36_000, 80_000]


def poll_job(seconds: int, expected: Expectation | None = None, deadline: int = DAY) -> JobState:
    """Poll a job that is ACTIVE `seconds` after its start, as the state machine does, until it is noticed."""
    job = JobState(phase="train", name="recflow-run-train", arn=ARN, status="CREATE PENDING", expected=expected)
    while job.status != "ACTIVE":
        status = "ACTIVE" if job.waited_seconds >= seconds else "CREATE IN_PROGRESS"
        job = next_job_state(job, status, None, deadline_seconds=deadline, poll_min_seconds=60)
    return job


def expectation_after(*jobs: JobState) -> Expectation | None:
    history = PhaseHistory()
    for number, job in enumerate(jobs):
        history = history.with_jobs(f"run-{number}", [job])
    return history.expectation("train")


@pytest.mark.parametrize("seconds", DURATIONS)
def test_a_first_run_notices_the_end_within_60_s_or_10_percent_in_at_most_100_polls(seconds):
    job = poll_job(seconds)

    assert 0 <= job.waited_seconds - seconds <= max(60, 0.10 * seconds)
    assert job.polls <= 100
    assert job.running_seconds < seconds <= job.waited_seconds


@pytest.mark.parametrize("seconds", DURATIONS)
def test_a_second_run_notices_the_end_within_30_s_or_2_percent_in_at_most_15_polls(seconds):
    # Given a first run of the same duration recorded in the history
    expected = expectation_after(poll_job(seconds))

    # When the second run polls
    job = poll_job(seconds, expected)

    # Then it notices the end sooner, in fewer polls
    assert 0 <= job.waited_seconds - seconds <= max(30, 0.02 * seconds)
    assert job.polls <= 15
    # And so does a third one, which learnt from both
    third = poll_job(seconds, expectation_after(poll_job(seconds), job))
    assert 0 <= third.waited_seconds - seconds <= max(30, 0.02 * seconds) and third.polls <= 15


def test_the_bounds_hold_across_a_sweep_of_durations():
    # Short jobs are where the floors (60 s, 30 s) and the first run's poll grid meet: sweep them densely.
    for seconds in [*range(1, 1500, 11), *range(1500, 86_000, 997)]:
        first = poll_job(seconds)
        second = poll_job(seconds, expectation_after(first))

        assert first.waited_seconds - seconds <= max(60, 0.10 * seconds) and first.polls <= 100, seconds
        assert second.waited_seconds - seconds <= max(30, 0.02 * seconds) and second.polls <= 15, seconds


@pytest.mark.parametrize("seconds", [1200, 7200, 36_000])
def test_a_job_slower_than_expected_falls_back_to_the_first_run_rule(seconds):
    # Given history says the job takes `seconds`, When it takes twice as long
    job = poll_job(2 * seconds, expectation_after(poll_job(seconds)))

    # Then its end is still noticed within the first-run bound, in fewer polls than the first-run limit
    assert 0 <= job.waited_seconds - 2 * seconds <= max(60, 0.10 * 2 * seconds)
    assert job.polls <= 100


def test_a_job_slightly_faster_than_expected_is_still_noticed_within_the_tight_bound():
    job = poll_job(6900, expectation_after(poll_job(7200)))

    assert 0 <= job.waited_seconds - 6900 <= 0.02 * 6900 and job.polls <= 15


def test_a_job_much_faster_than_expected_is_noticed_when_the_sleep_ends():
    # The price of sleeping through most of the expected duration: one sleep, then the first poll sees it.
    expected = Expectation(shortest_seconds=7200, longest_seconds=7200, runs=1)

    job = poll_job(1800, expected)

    assert job.polls == 2 and job.waited_seconds == 7200 - 360


def test_with_history_the_first_wait_sleeps_until_shortly_before_the_shortest_recent_duration():
    expected = Expectation(shortest_seconds=7000, longest_seconds=7400, runs=3)

    assert poll_wait_seconds(0, 1, expected, min_seconds=60, seed=ARN) == 7000 - 350
    # then 2% steps (at least half of PollMinSeconds)...
    assert poll_wait_seconds(6650, 2, expected, min_seconds=60, seed=ARN) == 133
    # ...until 10% past the longest, then the first-run rule again
    assert 7400 * 1.1 < 8200 and 738 <= poll_wait_seconds(8200, 9, expected, min_seconds=60, seed=ARN) <= 820
    # (for a short job, the window lasts PollMinSeconds past the longest: a first run's poll grid step)
    short = Expectation(shortest_seconds=120, longest_seconds=120, runs=1)
    assert poll_wait_seconds(170, 4, short, min_seconds=60, seed=ARN) == 30


def test_recent_runs_that_disagree_widen_the_tight_steps_to_keep_the_window_to_12_polls():
    expected = Expectation(shortest_seconds=3600, longest_seconds=14_400, runs=5)
    start, end = 3600 - 180, 14_400 * 1.1

    assert poll_wait_seconds(start, 2, expected, min_seconds=60, seed=ARN) == int((end - start) / 12)


def polls_to_deadline(deadline: int, poll_min_seconds: int) -> int:
    """Polls of a job that never finishes, counting the one that raises DeadlineExceeded at the deadline."""
    job = JobState(phase="train", name="recflow-run-train", arn=ARN, status="CREATE PENDING")
    with pytest.raises(DeadlineExceeded):
        while True:
            job = next_job_state(
                job, "CREATE IN_PROGRESS", None, deadline_seconds=deadline, poll_min_seconds=poll_min_seconds
            )
    assert job.waited_seconds == deadline
    return job.polls + 1


def test_a_stuck_job_polled_to_the_24_hour_training_deadline_stays_far_below_step_functions_history_limit():
    polls = polls_to_deadline(int(Template(TEMPLATE).parameters["TrainingDeadlineSeconds"]), 60)

    # Each poll is a Task (5 history events), a Choice (2) and a Wait (2); the whole run must stay under
    # 10% of the 25,000-event limit, the rest of a run taking about 100 events.
    assert 60 <= polls <= 70
    assert 9 * polls + 100 < 2_500


def test_the_templates_bounds_keep_any_deadline_under_100_polls():
    parameters = Template(TEMPLATE).doc["Parameters"]
    longest = max(parameters[name]["MaxValue"] for name in DEADLINES)
    shortest_wait = parameters["PollMinSeconds"]["MinValue"]

    assert polls_to_deadline(longest, shortest_wait) <= 100


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"PollMaxSeconds": "600"}, "unknown template parameter(s): PollMaxSeconds"),  # removed: no cap on waits
        ({"PollMinSeconds": "10"}, "parameter PollMinSeconds=10 is outside 30..900"),
        ({"TrainingDeadlineSeconds": "700000"}, "parameter TrainingDeadlineSeconds=700000 is outside 60..604800"),
    ],
)
def test_polling_parameters_a_user_sets_wrong_fail_with_one_clear_sentence(parameters, message):
    with pytest.raises(TemplateError) as raised:
        Template(TEMPLATE, parameters)

    assert str(raised.value) == message
