"""Injected faults (fail, stop, stall, throttle, busy) per phase, quotas, and the job records for the summary."""

import json

import pytest

from recflow.personalize_local.errors import PersonalizeError
from recflow.personalize_local.settings import LocalSettings

from .helpers import BUCKET, ROLE, interactions_csv, put

LOCATION = f"s3://{BUCKET}/transformed/run-1/interactions/"


def ready_for(api, s3, phase: str) -> dict:
    """Everything up to `phase`; returns what creating a job of that phase needs."""
    if phase == "import":
        dataset = api.dataset(api.dataset_group())
        put(s3, "transformed/run-1/interactions/part-0.csv", interactions_csv())
        return {"dataset": dataset}
    if phase == "train":
        group, _ = api.imported_dataset(s3)
        return {"solution": api.solution(group)}
    put(s3, "batch_users_input/run-1/users.json", '{"userId": "1"}\n')
    return {"version": api.trained_version(s3)}


def create(api, phase: str, needs: dict, name: str) -> str:
    if phase == "import":
        return api.start_import(needs["dataset"], LOCATION, name=name)
    if phase == "train":
        return api.call("CreateSolutionVersion", solutionArn=needs["solution"], name=name)["solutionVersionArn"]
    return api.call(
        "CreateBatchInferenceJob",
        jobName=name,
        solutionVersionArn=needs["version"],
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/batch_users_input/run-1/users.json"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/recommendations/run-1/"}},
        roleArn=ROLE,
    )["batchInferenceJobArn"]


def describe(api, phase: str, arn: str) -> dict:
    return {"import": api.import_status, "train": api.version_status, "batch": api.batch_status}[phase](arn)


KINDS = {"import": "dataset import job", "train": "solution version", "batch": "batch inference job"}


@pytest.mark.parametrize("phase", ["import", "train", "batch"])
def test_fail_fault_fails_the_job_when_due_with_an_injected_reason(make_api, s3, fake_recommender, phase):
    # Given a service set to fail this phase
    api = make_api(faults={phase: "fail"})
    needs = ready_for(api, s3, phase)

    # When a job of the phase runs to its due time
    arn = create(api, phase, needs, "faulty")
    api.finish(phase)
    job = describe(api, phase, arn)

    # Then it is CREATE FAILED with a reason saying the failure was injected
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"] == (
        f"Injected fault: the local Personalize service is set to fail every {KINDS[phase]} (faults.{phase}=fail)."
    )
    assert api.backend.jobs()[-1].fault == "fail"


@pytest.mark.parametrize("phase", ["import", "train", "batch"])
def test_stop_fault_stops_the_job_when_due(make_api, s3, fake_recommender, phase):
    api = make_api(faults={phase: "stop"})
    needs = ready_for(api, s3, phase)
    arn = create(api, phase, needs, "faulty")
    api.advance(api.backend.settings.job_seconds[phase] - 1)
    assert describe(api, phase, arn)["status"] == "CREATE IN_PROGRESS"
    api.advance(1)
    job = describe(api, phase, arn)
    assert job["status"] == "CREATE STOPPED"
    assert "failureReason" not in job


@pytest.mark.parametrize("phase", ["import", "train", "batch"])
def test_stall_fault_keeps_the_job_in_progress_forever(make_api, s3, fake_recommender, phase):
    api = make_api(faults={phase: "stall"})
    needs = ready_for(api, s3, phase)
    arn = create(api, phase, needs, "faulty")
    api.advance(30 * 24 * 3600)
    assert describe(api, phase, arn)["status"] == "CREATE IN_PROGRESS"
    record = api.backend.jobs()[-1]
    assert (record.status, record.completed, record.job_seconds) == ("CREATE IN_PROGRESS", None, None)


@pytest.mark.parametrize("fault, code", [("throttle", "LimitExceededException"), ("busy", "ResourceInUseException")])
@pytest.mark.parametrize("phase", ["import", "train", "batch"])
def test_refusing_faults_refuse_the_first_creates_then_let_one_through(
    make_api, s3, fake_recommender, phase, fault, code
):
    # Given a service set to refuse creates in this phase twice
    api = make_api(faults={phase: fault}, throttle_count=2)
    needs = ready_for(api, s3, phase)

    # When the job is created three times
    refusals = []
    for _ in range(2):
        with pytest.raises(PersonalizeError) as caught:
            create(api, phase, needs, fault)
        refusals.append(caught.value)
    arn = create(api, phase, needs, fault)

    # Then the first two are refused with the fault's error and the third creates a job that completes
    assert [refusal.code for refusal in refusals] == [code] * 2
    assert "(injected fault, 2 of 2)" in refusals[1].message
    api.finish(phase)
    assert describe(api, phase, arn)["status"] == "ACTIVE"
    assert api.backend.jobs()[-1].throttled_attempts == 2


def test_quota_of_concurrent_import_jobs_raises_limit_exceeded(make_api, s3):
    # Given a quota of two import jobs at a time
    api = make_api(max_active_jobs={"import": 2})
    needs = ready_for(api, s3, "import")
    create(api, "import", needs, "one")
    create(api, "import", needs, "two")

    # When a third is created while they run, Then it is refused
    with pytest.raises(PersonalizeError) as caught:
        create(api, "import", needs, "three")
    assert (caught.value.code, caught.value.message) == (
        "LimitExceededException",
        "You have reached the limit of 2 concurrent dataset import jobs; retry when one has finished.",
    )
    # When they have finished, Then it is accepted
    api.finish("import")
    assert create(api, "import", needs, "three").endswith("/three")


def test_job_seconds_and_records_for_the_run_summary(make_api, s3, fake_recommender):
    # Given custom phase durations
    api = make_api(job_seconds={"import": 60, "batch": 120}, pending_seconds=5)
    assert api.backend.settings.job_seconds == {"import": 60.0, "train": 600.0, "batch": 120.0}

    # When a whole run goes through
    needs = ready_for(api, s3, "batch")
    create(api, "batch", needs, "batch")
    api.advance(200)  # the pipeline observes late
    api.call("ListBatchInferenceJobs")

    # Then each phase's job reports its simulated duration and when it was observed
    records = api.backend.jobs()
    assert [(r.phase, r.status, r.job_seconds) for r in records] == [
        ("import", "ACTIVE", 60.0),
        ("train", "ACTIVE", 600.0),
        ("batch", "ACTIVE", 120.0),
    ]
    batch = records[-1]
    assert batch.started == batch.created + 5
    assert batch.observed == batch.created + 200
    assert batch.work_wall_seconds is not None and batch.work_wall_seconds >= 0
    # And job_records() gives the same as plain dicts, keyed as the run summary reads them
    plain = api.backend.job_records()
    assert [(job["arn"], job["job_seconds"]) for job in plain] == [(r.arn, r.job_seconds) for r in records]
    assert json.loads(json.dumps(plain)) == plain


def test_settings_refuse_unknown_faults_and_negative_durations():
    with pytest.raises(ValueError):
        LocalSettings(faults={"import": "explode"})
    with pytest.raises(ValueError):
        LocalSettings(job_seconds={"train": -1})
    with pytest.raises(ValueError):
        LocalSettings(faults={"deploy": "fail"})
