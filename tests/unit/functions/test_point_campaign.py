"""point_campaign: after the batch output, the stack's campaign is created on, or updated to, the run's solution
version; the state machine waits until it serves that version, and a failed campaign or update fails the run."""

import pytest
from lambda_env import REGION, SOLUTION_ARN
from recflow_lambda.campaign import CAMPAIGN_DEADLINE_SECONDS
from recflow_lambda.errors import DeadlineExceeded, JobFailed, PersonalizeResourceInUse
from recflow_lambda.handlers import point_campaign

NAME = "recflow-5b1d0f70"
ARN = f"arn:aws:personalize:{REGION}:123456789012:campaign/{NAME}"
RUN_VERSION = f"{SOLUTION_ARN}/run2"
PREVIOUS_VERSION = f"{SOLUTION_ARN}/run1"


@pytest.fixture
def campaign_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGN_ARN", ARN)
    monkeypatch.setenv("CAMPAIGN_MIN_TPS", "2")


def event(load_event, campaign: dict | None = None) -> dict:
    return load_event("point_campaign") | {"solution_version_arn": RUN_VERSION, "campaign": campaign}


def described(status: str = "ACTIVE", version: str = PREVIOUS_VERSION, update: dict | None = None, **extra) -> dict:
    campaign = {"name": NAME, "campaignArn": ARN, "solutionVersionArn": version, "minProvisionedTPS": 2}
    campaign |= {"status": status} | extra
    if update is not None:
        campaign["latestCampaignUpdate"] = update
    return {"campaign": campaign}


def update(status: str, version: str = RUN_VERSION, **extra) -> dict:
    return {"solutionVersionArn": version, "minProvisionedTPS": 2, "status": status} | extra


def waiting(status: str, **fields) -> dict:
    return {"arn": ARN, "name": NAME, "status": status, "ready": False} | fields


def test_without_a_campaign_the_step_is_ready_at_once(personalize_stubber, load_event, lambda_context, monkeypatch):
    # Given CampaignMinTPS 0: the template sets CAMPAIGN_ARN to ""
    monkeypatch.setenv("CAMPAIGN_ARN", "")

    result = point_campaign.handler(event(load_event), lambda_context)

    # Then nothing is called (the stubber has nothing queued) and the run goes on to finish
    assert (result["arn"], result["ready"], result["status"]) == (None, True, "NO CAMPAIGN")


def test_the_first_run_creates_the_campaign_on_its_version(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    personalize_stubber.add_client_error("describe_campaign", "ResourceNotFoundException")
    personalize_stubber.add_response(
        "create_campaign",
        {"campaignArn": ARN},
        {"name": NAME, "solutionVersionArn": RUN_VERSION, "minProvisionedTPS": 2},
    )

    result = point_campaign.handler(event(load_event), lambda_context)

    assert result | {"wait_seconds": 0, "waited_seconds": 0} == {
        "arn": ARN,
        "name": NAME,
        "solution_version_arn": None,
        "status": "CREATE PENDING",
        "ready": False,
        "polls": 1,
        "wait_seconds": 0,
        "waited_seconds": 0,
    }
    # the first-run pacing of the job polls: PollMinSeconds (60) less up to 10% jitter
    assert 54 <= result["wait_seconds"] <= 60 and result["waited_seconds"] == result["wait_seconds"]


def test_a_campaign_being_created_is_waited_for_then_ready_on_the_runs_version(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    personalize_stubber.add_response("describe_campaign", described("CREATE IN_PROGRESS", RUN_VERSION))
    personalize_stubber.add_response("describe_campaign", described("ACTIVE", RUN_VERSION))

    first = point_campaign.handler(
        event(load_event, waiting("CREATE PENDING", polls=1, waited_seconds=60)), lambda_context
    )
    second = point_campaign.handler(event(load_event, first), lambda_context)

    assert (first["status"], first["ready"], first["polls"]) == ("CREATE IN_PROGRESS", False, 2)
    assert first["waited_seconds"] > 60
    assert (second["status"], second["ready"], second["solution_version_arn"]) == ("ACTIVE", True, RUN_VERSION)


def test_a_later_run_updates_the_campaign_to_its_version_explicitly(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    # Given the campaign serving the previous run's version
    personalize_stubber.add_response("describe_campaign", described(version=PREVIOUS_VERSION), {"campaignArn": ARN})
    # Then UpdateCampaign names the run's version (never $LATEST: a failed run must not move it)
    personalize_stubber.add_response(
        "update_campaign",
        {"campaignArn": ARN},
        {"campaignArn": ARN, "minProvisionedTPS": 2, "solutionVersionArn": RUN_VERSION},
    )

    result = point_campaign.handler(event(load_event), lambda_context)

    assert (result["status"], result["ready"], result["solution_version_arn"]) == (
        "UPDATE PENDING",
        False,
        PREVIOUS_VERSION,
    )


@pytest.mark.parametrize("status", ["CREATE PENDING", "CREATE IN_PROGRESS", "UPDATE IN_PROGRESS"])
def test_an_update_in_progress_is_waited_for_without_a_second_update(
    campaign_env, personalize_stubber, load_event, lambda_context, status
):
    # Given the run's update in progress (the campaign still serves the previous version meanwhile)
    personalize_stubber.add_response("describe_campaign", described(update=update(status)))

    result = point_campaign.handler(event(load_event, waiting("UPDATE PENDING", polls=1)), lambda_context)

    # Then it only waits: no UpdateCampaign is queued, so the stubber would fail on one
    assert (result["status"], result["ready"], result["polls"]) == (status, False, 2)


def test_the_campaign_is_ready_once_its_update_is_active_on_the_runs_version(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    personalize_stubber.add_response("describe_campaign", described(version=RUN_VERSION, update=update("ACTIVE")))

    result = point_campaign.handler(event(load_event, waiting("CREATE IN_PROGRESS", polls=3)), lambda_context)

    assert (result["ready"], result["status"], result["solution_version_arn"]) == (True, "ACTIVE", RUN_VERSION)


def test_an_update_to_another_version_in_progress_is_waited_for_then_the_runs_update_follows(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    other = f"{SOLUTION_ARN}/other"
    personalize_stubber.add_response("describe_campaign", described(update=update("CREATE IN_PROGRESS", other)))
    personalize_stubber.add_response("describe_campaign", described(version=other, update=update("ACTIVE", other)))
    personalize_stubber.add_response("update_campaign", {"campaignArn": ARN})

    first = point_campaign.handler(event(load_event), lambda_context)
    second = point_campaign.handler(event(load_event, first), lambda_context)

    assert (first["status"], second["status"]) == ("CREATE IN_PROGRESS", "UPDATE PENDING")


def test_a_campaign_that_failed_to_create_fails_the_run_with_its_reason(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    failed = described("CREATE FAILED", RUN_VERSION, failureReason="Insufficient capacity.")
    personalize_stubber.add_response("describe_campaign", failed)

    with pytest.raises(JobFailed) as raised:
        point_campaign.handler(event(load_event, waiting("CREATE IN_PROGRESS")), lambda_context)

    assert str(raised.value) == (
        f"Personalize campaign {ARN} is CREATE FAILED: Insufficient capacity; delete it "
        "(aws personalize delete-campaign) and start a new run, which creates it again."
    )


def test_a_failed_update_to_the_runs_version_fails_the_run_and_the_campaign_keeps_its_version(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    failed = update("CREATE FAILED", failureReason="The solution version is not ACTIVE.")
    personalize_stubber.add_response("describe_campaign", described(update=failed))

    with pytest.raises(JobFailed) as raised:
        point_campaign.handler(event(load_event, waiting("CREATE IN_PROGRESS")), lambda_context)

    assert str(raised.value) == (
        f"Personalize campaign {ARN} could not be updated to solution version {RUN_VERSION} (CREATE FAILED): "
        f"The solution version is not ACTIVE. It still serves {PREVIOUS_VERSION}."
    )


def test_an_update_refused_as_in_use_is_left_to_the_state_machines_retry(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    personalize_stubber.add_response("describe_campaign", described())
    personalize_stubber.add_client_error("update_campaign", "ResourceInUseException", "Campaign is being updated")

    with pytest.raises(PersonalizeResourceInUse, match="UpdateCampaign was refused with ResourceInUseException"):
        point_campaign.handler(event(load_event), lambda_context)


def test_a_campaign_not_ready_by_the_deadline_fails_the_run(
    campaign_env, personalize_stubber, load_event, lambda_context
):
    personalize_stubber.add_response("describe_campaign", described(update=update("CREATE IN_PROGRESS")))
    late = waiting("CREATE IN_PROGRESS", polls=40, waited_seconds=CAMPAIGN_DEADLINE_SECONDS)

    with pytest.raises(DeadlineExceeded, match=f"within {CAMPAIGN_DEADLINE_SECONDS} s \\(still CREATE IN_PROGRESS\\)"):
        point_campaign.handler(event(load_event, late), lambda_context)


def test_a_wait_never_passes_the_deadline(campaign_env, personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_response("describe_campaign", described(update=update("CREATE IN_PROGRESS")))
    near = waiting("CREATE IN_PROGRESS", polls=30, waited_seconds=CAMPAIGN_DEADLINE_SECONDS - 10)

    result = point_campaign.handler(event(load_event, near), lambda_context)

    assert (result["wait_seconds"], result["waited_seconds"]) == (10, CAMPAIGN_DEADLINE_SECONDS)
