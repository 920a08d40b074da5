"""check_job: the state logic of the contract, then the handler against stubbed Describe calls."""

import pytest
from lambda_env import RUN_ID
from recflow_lambda.errors import (
    DeadlineExceeded,
    InvalidEvent,
    JobFailed,
    JobStopped,
    PersonalizeResourceNotFound,
    PersonalizeThrottled,
    UnexpectedJobStatus,
)
from recflow_lambda.handlers import check_job
from recflow_lambda.job_status import next_job_state, poll_wait_seconds
from recflow_lambda.models import JobState

ARN = "arn:aws:personalize:us-east-1:123456789012:solution/recflow-solution/1a2b3c4d"
NAME = f"recflow-{RUN_ID}-train"
POLLING = {"deadline_seconds": 3600, "poll_min_seconds": 60}


def training(**changes) -> JobState:
    return JobState(phase="train", name=NAME, arn=ARN, status="CREATE PENDING").model_copy(update=changes)


# --- state logic --------------------------------------------------------------------------------------
def test_active_counts_the_poll_and_clears_the_wait():
    job = next_job_state(training(polls=3, waited_seconds=400, wait_seconds=240), "ACTIVE", None, **POLLING)

    assert job == training(status="ACTIVE", polls=4, waited_seconds=400, wait_seconds=0)


def test_create_failed_raises_job_failed_with_personalizes_reason():
    with pytest.raises(JobFailed) as raised:
        next_job_state(training(polls=1), "CREATE FAILED", "Not enough interactions.", **POLLING)

    assert str(raised.value) == f"Personalize training job {NAME} failed in phase train: Not enough interactions."


def test_create_failed_without_a_reason_says_so():
    with pytest.raises(JobFailed, match="failed in phase train: Personalize gave no reason[.]$"):
        next_job_state(training(), "CREATE FAILED", None, **POLLING)


@pytest.mark.parametrize("status", ["CREATE STOPPING", "CREATE STOPPED"])
def test_stopping_or_stopped_raises_job_stopped(status):
    with pytest.raises(JobStopped) as raised:
        next_job_state(training(), status, None, **POLLING)

    assert str(raised.value) == (
        f"Personalize training job {NAME} was stopped ({status}) in phase train; start a new run to try again."
    )


@pytest.mark.parametrize(
    ("phase", "kind"), [("import", "dataset import"), ("train", "training"), ("batch", "batch inference")]
)
def test_the_message_names_the_kind_of_job_and_the_phase(phase, kind):
    with pytest.raises(JobFailed) as raised:
        next_job_state(training(phase=phase), "CREATE FAILED", "Access denied", **POLLING)

    assert str(raised.value) == f"Personalize {kind} job {NAME} failed in phase {phase}: Access denied."


@pytest.mark.parametrize("status", ["CREATE PENDING", "PENDING", "CREATE IN_PROGRESS", "IN PROGRESS"])
def test_a_running_job_waits_by_the_policy_and_remembers_it_ran_that_long(status):
    # Given the job was polled twice already and waited 1800 s
    job = training(polls=2, waited_seconds=1800)

    # When the third poll finds it still running
    polled = next_job_state(job, status, None, **POLLING)

    # Then it waits up to 10% of 1800 s (jitter only shortens), counts the wait and the time it surely ran
    expected_wait = poll_wait_seconds(1800, 3, None, min_seconds=60, seed=ARN)
    assert 162 <= expected_wait <= 180
    assert polled == training(
        status=status, polls=3, wait_seconds=expected_wait, waited_seconds=1800 + expected_wait, running_seconds=1800
    )


def test_the_wait_is_clipped_to_the_deadline():
    job = next_job_state(training(polls=8, waited_seconds=3590), "CREATE IN_PROGRESS", None, **POLLING)

    assert (job.wait_seconds, job.waited_seconds) == (10, 3600)


def test_reaching_the_deadline_raises_deadline_exceeded():
    job = training(polls=9, waited_seconds=3600, wait_seconds=10)

    with pytest.raises(DeadlineExceeded) as raised:
        next_job_state(job, "CREATE IN_PROGRESS", None, **POLLING)

    assert str(raised.value) == (
        f"Personalize training job {NAME} did not finish in 3600 s in phase train (still CREATE IN_PROGRESS); "
        "raise TrainingDeadlineSeconds if it needs longer."
    )


def test_an_unknown_status_raises_unexpected_job_status():
    with pytest.raises(UnexpectedJobStatus) as raised:
        next_job_state(training(), "DELETE PENDING", None, **POLLING)

    assert str(raised.value) == (
        f"Personalize training job {NAME} has status DELETE PENDING in phase train, which the pipeline does not "
        "expect; look at the job in the Personalize console."
    )


def test_a_job_that_never_finishes_stops_exactly_at_the_deadline():
    # Given a job stuck in CREATE IN_PROGRESS, When the state machine keeps polling until a poll raises
    job, waits = training(), []
    with pytest.raises(DeadlineExceeded):
        while True:
            job = next_job_state(job, "CREATE IN_PROGRESS", None, **POLLING)
            waits.append(job.wait_seconds)

    # Then the waits grow and add up to the deadline exactly; the poll after them raised
    assert sum(waits) == 3600 == job.waited_seconds
    assert all(1 <= wait <= 360 for wait in waits)
    assert waits[9:-1] == sorted(waits[9:-1]) and max(waits) > 300
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

    # Then the third poll, with no history, waits PollMinSeconds less its jitter
    wait = poll_wait_seconds(180, 3, None, min_seconds=60, seed=ARN)
    assert 54 <= wait <= 60
    assert (
        result
        == training(
            status="CREATE IN_PROGRESS", polls=3, wait_seconds=wait, waited_seconds=180 + wait, running_seconds=180
        ).model_dump()
    )


def test_check_job_raises_job_failed_for_a_failed_import(personalize_stubber, lambda_context):
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

    with pytest.raises(JobFailed) as raised:
        check_job.handler({"job": job.model_dump()}, lambda_context)

    assert str(raised.value) == (
        f"Personalize dataset import job recflow-{RUN_ID}-import failed in phase import: "
        "Input CSV has no USER_ID column."
    )


def test_check_job_uses_the_batch_deadline_for_a_batch_job(personalize_stubber, lambda_context):
    arn = f"arn:aws:personalize:us-east-1:123456789012:batch-inference-job/recflow-{RUN_ID}-batch"
    personalize_stubber.add_response(
        "describe_batch_inference_job",
        {"batchInferenceJob": {"batchInferenceJobArn": arn, "status": "IN PROGRESS"}},
        {"batchInferenceJobArn": arn},
    )
    job = JobState(phase="batch", name=f"recflow-{RUN_ID}-batch", arn=arn, status="PENDING", waited_seconds=14400)

    with pytest.raises(DeadlineExceeded, match="did not finish in 14400 s in phase batch [(]still IN PROGRESS[)]"):
        check_job.handler({"job": job.model_dump()}, lambda_context)


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
