import pytest
from recflow_lambda.backoff import equal_jitter_seconds

ARNS = [f"arn:aws:personalize:us-east-1:123456789012:dataset-import-job/job-{n}" for n in range(40)]


def test_wait_is_between_half_and_all_of_the_capped_exponential_ceiling():
    for arn in ARNS:
        for attempt in range(1, 12):
            ceiling = min(900, 60 * 2 ** (attempt - 1))

            wait = equal_jitter_seconds(arn, attempt, 60, 900)

            assert ceiling / 2 <= wait <= ceiling, (arn, attempt, wait)


def test_wait_is_deterministic_for_the_same_arn_and_attempt():
    assert [equal_jitter_seconds(ARNS[0], n, 60, 900) for n in range(1, 8)] == [
        equal_jitter_seconds(ARNS[0], n, 60, 900) for n in range(1, 8)
    ]


def test_jitter_spreads_different_jobs_apart():
    waits = {equal_jitter_seconds(arn, 5, 60, 900) for arn in ARNS}

    assert len(waits) > 20


def test_a_huge_attempt_number_stays_at_the_cap():
    assert 450 <= equal_jitter_seconds(ARNS[0], 10_000, 60, 900) <= 900


def test_wait_is_at_least_one_second():
    assert all(equal_jitter_seconds(arn, 1, 1, 1) == 1 for arn in ARNS)


def test_attempt_zero_is_refused():
    with pytest.raises(ValueError, match="attempt must be 1 or more"):
        equal_jitter_seconds(ARNS[0], 0, 60, 900)
