import pytest
from recflow_lambda.backoff import shortened_seconds

ARNS = [f"arn:aws:personalize:us-east-1:123456789012:dataset-import-job/job-{n}" for n in range(40)]


def test_a_wait_is_only_ever_shortened_by_at_most_its_share():
    for arn in ARNS:
        for attempt in range(1, 12):
            wait = shortened_seconds(arn, attempt, 600, 0.1)

            assert 540 <= wait <= 600, (arn, attempt, wait)


def test_wait_is_deterministic_for_the_same_arn_and_attempt():
    assert [shortened_seconds(ARNS[0], n, 600, 0.1) for n in range(1, 8)] == [
        shortened_seconds(ARNS[0], n, 600, 0.1) for n in range(1, 8)
    ]


def test_jitter_spreads_different_jobs_apart():
    waits = {shortened_seconds(arn, 5, 600, 0.1) for arn in ARNS}

    assert len(waits) > 20


def test_no_share_means_no_jitter_and_a_wait_is_at_least_one_second():
    assert {shortened_seconds(arn, 3, 75.9, 0) for arn in ARNS} == {75}
    assert all(shortened_seconds(arn, 1, 0.2, 0.1) == 1 for arn in ARNS)


def test_attempt_zero_and_a_whole_share_are_refused():
    with pytest.raises(ValueError, match="attempt must be 1 or more"):
        shortened_seconds(ARNS[0], 0, 60, 0.1)
    with pytest.raises(ValueError, match="jitter share must be in"):
        shortened_seconds(ARNS[0], 1, 60, 1)
