"""check_job: the state logic of the contract, then the handler against stubbed Describe calls."""

import pytest
from lambda_env import RUN_ID
from recflow_lambda.backoff import equal_jitter_seconds
from recflow_lambda.errors import InvalidEvent, PersonalizeResourceNotFound, PersonalizeThrottled
from recflow_lambda.handlers import check_job
from recflow_lambda.job_status import next_job_state
from recflow_lambda.models import JobState

ARN = "arn:aws:personalize:us-east-1:123456789012:solution/recflow-solution/1a2b3c4d"
NAME = f"recflow-{RUN_ID}-train"
POLLING = {"deadline_seconds": 3600, "poll_min_seconds": 60, "poll_max_seconds": 900}


def training(**changes) -> JobState:
    return JobState(phase="train", name=NAME, arn=ARN, status="CREATE PENDING").model_copy(update=changes)


# --- state logic --------------------------------------------------------------------------------------
def test_active_counts_the_poll_and_clears_the_wait():
    job = next_job_state(training(polls=3, waited_seconds=400, wait_seconds=240), "ACTIVE", None, **POLLING)

    assert job == training(status="ACTIVE", polls=4, waited_seconds=400, wait_seconds=0)


def test_create_failed_is_job_failed_with_personalizes_reason():
    job = next_job_state(training(polls=1), "CREATE FAILED", "Not enough interactions.", **POLLING)

    assert (job.status, job.polls, job.error) == ("CREATE FAILED", 2, "JobFailed")
    assert job.cause == f"Personalize training job {NAME} failed: Not enough interactions."


def test_create_failed_without_a_reason_says_so():
    job = next_job_state(training(), "CREATE FAILED", None, **POLLING)

    assert job.cause == f"Personalize training job {NAME} failed: Personalize gave no reason"


@pytest.mark.parametrize("status", ["CREATE STOPPING", "CREATE STOPPED"])
def test_stopping_or_stopped_is_job_stopped(status):
    job = next_job_state(training(), status, None, **POLLING)

    assert (job.status, job.error, job.cause) == (
        status,
        "JobStopped",
        f"Personalize training job {NAME} was stopped",
    )


@pytest.mark.parametrize(
    ("phase", "kind"), [("import", "dataset import"), ("train", "training"), ("batch", "batch inference")]
)
def test_the_cause_names_the_kind_of_job(phase, kind):
    job = next_job_state(training(phase=phase), "CREATE FAILED", "Access denied.", **POLLING)

    assert job.cause == f"Personalize {kind} job {NAME} failed: Access denied."


@pytest.mark.parametrize("status", ["CREATE PENDING", "PENDING", "CREATE IN_PROGRESS", "IN PROGRESS"])
def test_a_running_job_waits_a_capped_exponential_backoff_with_equal_jitter(status):
    # Given the job was polled twice already and waited 180 s
    job = training(polls=2, waited_seconds=180)

    # When the third poll finds it still running
    polled = next_job_state(job, status, None, **POLLING)

    # Then it waits between 120 and 240 s (ceiling min(900, 60*2^2)), deterministically, and counts the wait
    expected_wait = equal_jitter_seconds(ARN, 3, 60, 900)
    assert 120 <= expected_wait <= 240
    assert polled == training(status=status, polls=3, wait_seconds=expected_wait, waited_seconds=180 + expected_wait)


def test_the_wait_is_clipped_to_the_deadline():
    job = next_job_state(training(polls=8, waited_seconds=3590), "CREATE IN_PROGRESS", None, **POLLING)

    assert (job.wait_seconds, job.waited_seconds, job.error) == (10, 3600, None)


def test_reaching_the_deadline_is_deadline_exceeded():
    job = next_job_state(training(polls=9, waited_seconds=3600, wait_seconds=10), "CREATE IN_PROGRESS", None, **POLLING)

    assert job == training(
        status="CREATE IN_PROGRESS",
        polls=10,
        waited_seconds=3600,
        wait_seconds=0,
        deadline_exceeded=True,
        error="DeadlineExceeded",
        cause="phase train did not finish in 3600 s",
    )


def test_an_unknown_status_is_unexpected():
    job = next_job_state(training(), "DELETE PENDING", None, **POLLING)

    assert job.error == "UnexpectedStatus"
    assert job.cause == f"Personalize training job {NAME} has status DELETE PENDING, which the pipeline does not expect"


def test_a_job_that_never_finishes_stops_exactly_at_the_deadline():
    # Given a job stuck in CREATE IN_PROGRESS, When the state machine keeps polling
    job, waits = training(), []
    while job.error is None:
        job = next_job_state(job, "CREATE IN_PROGRESS", None, **POLLING)
        waits.append(job.wait_seconds)

    # Then the waits grow to the cap, add up to the deadline exactly, and the last poll reports it
    assert job.error == "DeadlineExceeded"
    assert sum(waits) == 3600 == job.waited_seconds
    assert all(1 <= wait <= 900 for wait in waits[:-1])
    assert waits[-1] == 0
    assert job.polls == len(waits)


# --- handler ------------------------------------------------------------------------------------------
def test_check_job_polls_a_training_job(personalize_stubber, load_event, lambda_context):
    # Given the sample training job (polled twice, 180 s waited) is still training
    personalize_stubber.add_response(
        "describe_solution_version",
        {"solutionVersion": {"solutionVersionArn": ARN, "status": "CREATE IN_PROGRESS"}},
        {"solutionVersionArn": ARN},
    )

    # When check_job polls it
    result = check_job.handler(load_event("check_job"), lambda_context)

    # Then the third poll schedules a backoff wait of the training deadline's budget
    wait = equal_jitter_seconds(ARN, 3, 60, 900)
    assert (
        result
        == training(status="CREATE IN_PROGRESS", polls=3, wait_seconds=wait, waited_seconds=180 + wait).model_dump()
    )


def test_check_job_reports_a_failed_import(personalize_stubber, lambda_context):
    arn = f"arn:aws:personalize:us-east-1:123456789012:dataset-import-job/recflow-{RUN_ID}-import"
    personalize_stubber.add_response(
        "describe_dataset_import_job",
        {
            "datasetImportJob": {
                "datasetImportJobArn": arn,
                "status": "CREATE FAILED",
                "failureReason": "Input CSV has no USER_ID column.",
            }
        },
        {"datasetImportJobArn": arn},
    )
    job = JobState(phase="import", name=f"recflow-{RUN_ID}-import", arn=arn, status="CREATE PENDING")

    result = check_job.handler({"job": job.model_dump()}, lambda_context)

    assert result["error"] == "JobFailed"
    assert (
        result["cause"]
        == f"Personalize dataset import job recflow-{RUN_ID}-import failed: Input CSV has no USER_ID column."
    )


def test_check_job_uses_the_batch_deadline_for_a_batch_job(personalize_stubber, lambda_context):
    arn = f"arn:aws:personalize:us-east-1:123456789012:batch-inference-job/recflow-{RUN_ID}-batch"
    personalize_stubber.add_response(
        "describe_batch_inference_job",
        {"batchInferenceJob": {"batchInferenceJobArn": arn, "status": "IN PROGRESS"}},
        {"batchInferenceJobArn": arn},
    )
    job = JobState(phase="batch", name=f"recflow-{RUN_ID}-batch", arn=arn, status="PENDING", waited_seconds=14400)

    result = check_job.handler({"job": job.model_dump()}, lambda_context)

    assert (result["status"], result["error"], result["cause"]) == (
        "IN PROGRESS",
        "DeadlineExceeded",
        "phase batch did not finish in 14400 s",
    )


def test_check_job_of_a_vanished_job_fails_clearly(personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_client_error(
        "describe_solution_version", "ResourceNotFoundException", "Could not find solution version."
    )

    with pytest.raises(PersonalizeResourceNotFound) as raised:
        check_job.handler(load_event("check_job"), lambda_context)

    assert str(raised.value) == (
        "Personalize DescribeSolutionVersion failed with ResourceNotFoundException: Could not find solution version."
    )


def test_a_throttled_poll_is_personalize_throttled(personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_client_error("describe_solution_version", "ThrottlingException", "Rate exceeded")

    with pytest.raises(PersonalizeThrottled, match="DescribeSolutionVersion was refused with ThrottlingException"):
        check_job.handler(load_event("check_job"), lambda_context)


def test_a_job_of_an_unknown_phase_is_an_invalid_event(personalize_stubber, load_event, lambda_context):
    event = load_event("check_job")
    event["job"]["phase"] = "deploy"

    with pytest.raises(InvalidEvent, match="job.phase: Input should be 'import', 'train' or 'batch'"):
        check_job.handler(event, lambda_context)
