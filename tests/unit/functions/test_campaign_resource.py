"""Custom::PersonalizeCampaign through the custom resources' function: Create records the campaign the first run
creates (or adopts one of the stack's solution), Update changes its minimum TPS, Delete stops the billing."""

import pytest
from recflow_lambda.handlers import solution_resource

NAME = "recflow-5b1d0f70"
SOLUTION_ARN = "arn:aws:personalize:us-east-1:123456789012:solution/recflow-5b1d0f70-aws-user-personalization-v2"
NEW_SOLUTION_ARN = "arn:aws:personalize:us-east-1:123456789012:solution/recflow-5b1d0f70-aws-sims"
VERSION_ARN = f"{SOLUTION_ARN}/1a2b3c4d"
ARN = f"arn:aws:personalize:us-east-1:123456789012:campaign/{NAME}"


@pytest.fixture
def campaign_event(load_event, cloudformation):
    def build(
        request_type: str = "Create",
        physical_id: str | None = None,
        tps: str = "1",
        solution_arn: str = SOLUTION_ARN,
        old: dict | None = None,
    ) -> dict:
        event = load_event("solution_resource")
        token = event["ServiceToken"]
        event |= {
            "RequestType": request_type,
            "ResponseURL": cloudformation[0],
            "LogicalResourceId": "Campaign",
            "ResourceType": "Custom::PersonalizeCampaign",
            # CloudFormation sends every property as a string
            "ResourceProperties": {
                "ServiceToken": token,
                "Name": NAME,
                "SolutionArn": solution_arn,
                "MinProvisionedTPS": tps,
            },
        }
        if old is not None:
            event["OldResourceProperties"] = {"ServiceToken": token, "Name": NAME} | old
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        return event

    return build


def described(status: str = "ACTIVE", tps: int = 1, update: dict | None = None, **changes) -> dict:
    campaign = {
        "name": NAME,
        "campaignArn": ARN,
        "solutionVersionArn": VERSION_ARN,
        "minProvisionedTPS": tps,
        "status": status,
    }
    if update is not None:
        campaign["latestCampaignUpdate"] = update
    return {"campaign": campaign | changes}


def not_found(stubber) -> None:
    stubber.add_client_error("describe_campaign", "ResourceNotFoundException", expected_params={"campaignArn": ARN})


def test_create_records_the_campaign_the_first_run_creates(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    # Given no campaign yet (none can exist before a solution version)
    not_found(personalize_stubber)

    # When CloudFormation sends Create
    result = solution_resource.handler(campaign_event("Create"), lambda_context)

    # Then nothing is created: the answer names the ARN the campaign will have
    assert (result["Status"], result["PhysicalResourceId"], result["Data"]) == ("SUCCESS", ARN, {"Arn": ARN})
    assert result["Reason"] == (
        f"Campaign {ARN} (1 TPS) is created by the next successful run: it needs a trained solution version."
    )
    assert cloudformation[1][0]["body"] == result


def test_create_adopts_a_campaign_serving_a_version_of_the_stacks_solution(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_campaign", described(), {"campaignArn": ARN})

    result = solution_resource.handler(campaign_event("Create"), lambda_context)

    assert (result["Status"], result["Reason"]) == ("SUCCESS", f"Campaign {ARN} serves {VERSION_ARN} with 1 TPS.")


def test_create_refuses_a_campaign_of_that_name_on_another_solution(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    other = "arn:aws:personalize:us-east-1:123456789012:solution/someone-else/9f8e7d6c"
    personalize_stubber.add_response("describe_campaign", described(solutionVersionArn=other), {"campaignArn": ARN})

    result = solution_resource.handler(campaign_event("Create"), lambda_context)

    # The rollback must not delete someone else's campaign: no physical id names it
    assert (result["Status"], result["PhysicalResourceId"]) == ("FAILED", "Campaign-not-created")
    assert result["Reason"] == (
        f"A campaign named {NAME} already exists and serves {other}, not a version of {SOLUTION_ARN}; "
        "delete that campaign (aws personalize delete-campaign) and deploy again."
    )


def test_update_applies_a_new_minimum_tps_and_waits_until_the_campaign_is_active_again(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    # Given the campaign at 1 TPS, and an Update to 3
    personalize_stubber.add_response("describe_campaign", described(tps=1), {"campaignArn": ARN})
    personalize_stubber.add_response("describe_campaign", described(tps=1), {"campaignArn": ARN})
    personalize_stubber.add_response(
        "update_campaign", {"campaignArn": ARN}, {"campaignArn": ARN, "minProvisionedTPS": 3}
    )
    in_progress = {"solutionVersionArn": VERSION_ARN, "minProvisionedTPS": 3, "status": "CREATE IN_PROGRESS"}
    personalize_stubber.add_response("describe_campaign", described(update=in_progress), {"campaignArn": ARN})
    done = in_progress | {"status": "ACTIVE"}
    personalize_stubber.add_response("describe_campaign", described(tps=3, update=done), {"campaignArn": ARN})

    event = campaign_event(
        "Update", physical_id=ARN, tps="3", old={"SolutionArn": SOLUTION_ARN, "MinProvisionedTPS": "1"}
    )
    result = solution_resource.handler(event, lambda_context)

    assert result["Status"] == "SUCCESS", result["Reason"]
    assert result["Reason"] == f"Campaign {ARN} serves {VERSION_ARN} with 3 TPS (was 1)."
    assert sleeps == [5, 5]


def test_update_waits_for_a_runs_update_in_progress_before_changing_the_tps(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    # Given a run's UpdateCampaign still in progress
    running = {"solutionVersionArn": f"{SOLUTION_ARN}/new", "minProvisionedTPS": 1, "status": "CREATE PENDING"}
    personalize_stubber.add_response("describe_campaign", described(update=running), {"campaignArn": ARN})
    personalize_stubber.add_response("describe_campaign", described(update=running), {"campaignArn": ARN})
    # Then the TPS update waits until it is done
    finished = described(update=running | {"status": "ACTIVE"}, solutionVersionArn=f"{SOLUTION_ARN}/new")
    personalize_stubber.add_response("describe_campaign", finished, {"campaignArn": ARN})
    personalize_stubber.add_response(
        "update_campaign", {"campaignArn": ARN}, {"campaignArn": ARN, "minProvisionedTPS": 2}
    )
    updated = described(tps=2, update=running | {"status": "ACTIVE", "minProvisionedTPS": 2})
    personalize_stubber.add_response("describe_campaign", updated, {"campaignArn": ARN})

    event = campaign_event(
        "Update", physical_id=ARN, tps="2", old={"SolutionArn": SOLUTION_ARN, "MinProvisionedTPS": "1"}
    )
    result = solution_resource.handler(event, lambda_context)

    assert result["Status"] == "SUCCESS", result["Reason"]
    assert sleeps == [5, 5]


def test_an_update_to_a_new_solution_retires_the_campaign_so_the_old_solution_can_go(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    # Given a recipe change: the Solution resource was replaced
    personalize_stubber.add_response("describe_campaign", described(), {"campaignArn": ARN})
    personalize_stubber.add_response("delete_campaign", {}, {"campaignArn": ARN})
    not_found(personalize_stubber)

    old = {"SolutionArn": SOLUTION_ARN, "MinProvisionedTPS": "1"}
    event = campaign_event("Update", physical_id=ARN, solution_arn=NEW_SOLUTION_ARN, old=old)
    result = solution_resource.handler(event, lambda_context)

    assert (result["Status"], result["PhysicalResourceId"]) == ("SUCCESS", ARN)
    assert result["Reason"] == (
        f"Campaign {ARN} is deleted. It served {SOLUTION_ARN}; the next successful run creates it on "
        f"{NEW_SOLUTION_ARN}."
    )


def test_delete_deletes_an_existing_campaign_and_waits_until_it_is_gone(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_campaign", described(), {"campaignArn": ARN})
    personalize_stubber.add_response("delete_campaign", {}, {"campaignArn": ARN})
    personalize_stubber.add_response("describe_campaign", described("DELETE IN_PROGRESS"), {"campaignArn": ARN})
    not_found(personalize_stubber)

    result = solution_resource.handler(campaign_event("Delete", physical_id=ARN), lambda_context)

    assert (result["Status"], result["Reason"]) == ("SUCCESS", f"Campaign {ARN} is deleted.")
    assert sleeps == [5, 5]


def test_delete_of_a_campaign_no_run_created_succeeds(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    not_found(personalize_stubber)

    result = solution_resource.handler(campaign_event("Delete", physical_id=ARN), lambda_context)

    assert (result["Status"], result["Reason"]) == ("SUCCESS", f"Campaign {ARN} did not exist.")
    assert sleeps == []


def test_delete_waits_for_a_campaign_being_created_before_deleting_it(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_campaign", described("CREATE IN_PROGRESS"), {"campaignArn": ARN})
    personalize_stubber.add_response("describe_campaign", described("ACTIVE"), {"campaignArn": ARN})
    personalize_stubber.add_response("delete_campaign", {}, {"campaignArn": ARN})
    not_found(personalize_stubber)

    result = solution_resource.handler(campaign_event("Delete", physical_id=ARN), lambda_context)

    assert result["Status"] == "SUCCESS"
    assert sleeps == [5, 5]


def test_delete_that_runs_out_of_time_fails_and_says_to_delete_again(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    lambda_context.remaining_ms = 10_000  # under the 20 s the function keeps to answer
    personalize_stubber.add_response("describe_campaign", described("CREATE IN_PROGRESS"), {"campaignArn": ARN})

    result = solution_resource.handler(campaign_event("Delete", physical_id=ARN), lambda_context)

    assert result["Status"] == "FAILED"
    assert result["Reason"] == (
        f"Campaign {ARN} was still CREATE IN_PROGRESS when the function ran out of time; "
        "delete the stack again to finish."
    )


def test_an_update_to_zero_tps_deletes_the_campaign(
    personalize_stubber, campaign_event, cloudformation, sleeps, lambda_context
):
    # Given an Update to MinProvisionedTPS 0 (the offline deployment sends it where CloudFormation deletes the
    # resource of a false HasCampaign condition)
    personalize_stubber.add_response("describe_campaign", described(), {"campaignArn": ARN})
    personalize_stubber.add_response("delete_campaign", {}, {"campaignArn": ARN})
    not_found(personalize_stubber)

    old = {"SolutionArn": SOLUTION_ARN, "MinProvisionedTPS": "1"}
    result = solution_resource.handler(campaign_event("Update", physical_id=ARN, tps="0", old=old), lambda_context)

    assert (result["Status"], result["PhysicalResourceId"]) == ("SUCCESS", ARN)
    assert result["Reason"] == f"Campaign {ARN} is deleted. MinProvisionedTPS 0 means no campaign."
