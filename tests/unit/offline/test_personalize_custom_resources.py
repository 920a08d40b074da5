"""The exclude-seen filter and the campaign through the offline stack's lifecycle: their custom resources answer
through the real function, with its role's permissions checked by the offline IAM, against the local Personalize.
"""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from offline_aws import offline_aws, start_training

from recflow.offline.clock import SimClock
from recflow.offline.stack import TEMPLATE, Stack, delete_stack, deploy_stack, update_stack
from recflow.offline.template import REGION, Template

EXPRESSION = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'


@pytest.fixture
def clock() -> Iterator[SimClock]:
    clock = SimClock(scale=0)
    with offline_aws(clock):
        yield clock


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def stack_key(stack: Stack) -> str:
    return stack.output("DatasetGroupArn").rsplit("/", 1)[1].removeprefix("recflow-")


def trained_version(stack: Stack, clock: SimClock) -> str:
    """start_training, then the solution version's ARN once it is ACTIVE."""
    arn = start_training(stack, clock)
    personalize = client("personalize")
    while personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["status"] != "ACTIVE":
        clock.advance(60)
    return arn


def campaign_once_settled(arn: str, clock: SimClock) -> dict[str, Any]:
    personalize = client("personalize")
    while True:
        campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
        update = campaign.get("latestCampaignUpdate") or {}
        if campaign["status"] == "ACTIVE" and update.get("status", "ACTIVE") == "ACTIVE":
            return dict(campaign)
        clock.advance(60)


def test_the_filter_is_created_with_the_stack_and_deleted_with_it(clock: SimClock) -> None:
    # Given the default parameters (ExcludeSeenItems true, no campaign)
    stack = deploy_stack("shop", Template(TEMPLATE), clock)
    key = stack_key(stack)
    # Then the filter exists, ACTIVE, with the stack's expression, and is an output; there is no campaign
    arn = stack.output("FilterArn")
    assert arn == f"arn:aws:personalize:us-east-1:123456789012:filter/recflow-{key}-exclude-seen"
    found = client("personalize").describe_filter(filterArn=arn)["filter"]
    assert (found["status"], found["filterExpression"]) == ("ACTIVE", EXPRESSION)
    assert "CampaignArn" not in stack.outputs and "Campaign" not in stack.resources
    # When the stack is deleted, Then so is the filter
    delete_stack("shop", clock)
    assert client("personalize").list_filters()["Filters"] == []


def test_without_exclude_seen_items_there_is_no_filter(clock: SimClock) -> None:
    stack = deploy_stack("shop", Template(TEMPLATE, {"ExcludeSeenItems": "false"}), clock)

    assert "FilterArn" not in stack.outputs
    assert client("personalize").list_filters()["Filters"] == []
    environment = client("lambda").get_function_configuration(
        FunctionName=stack.resources["StartBatchFunction"].physical_id
    )["Environment"]["Variables"]
    assert environment.get("FILTER_ARN", "") == ""


def test_the_campaign_resource_changes_its_tps_and_deleting_it_stops_the_campaign(clock: SimClock) -> None:
    # Given a stack with CampaignMinTPS=1: the campaign's ARN is an output, but no campaign exists before a run
    stack = deploy_stack("shop", Template(TEMPLATE, {"CampaignMinTPS": "1"}), clock)
    arn = stack.output("CampaignArn")
    assert arn == f"arn:aws:personalize:us-east-1:123456789012:campaign/recflow-{stack_key(stack)}"
    personalize = client("personalize")
    assert personalize.list_campaigns()["campaigns"] == []
    # And a campaign a run created on a trained version
    version = trained_version(stack, clock)
    personalize.create_campaign(name=arn.rsplit("/", 1)[1], solutionVersionArn=version, minProvisionedTPS=1)
    assert campaign_once_settled(arn, clock)["solutionVersionArn"] == version

    # When the stack is updated to 2 TPS, Then the campaign provisions 2 TPS on the same version
    update_stack("shop", Template(TEMPLATE, {"CampaignMinTPS": "2"}), clock)
    campaign = campaign_once_settled(arn, clock)
    assert (campaign["minProvisionedTPS"], campaign["solutionVersionArn"]) == (2, version)

    # When CampaignMinTPS goes back to 0, Then the campaign is deleted and the output gone
    updated = update_stack("shop", Template(TEMPLATE, {"CampaignMinTPS": "0"}), clock)
    assert "CampaignArn" not in updated.outputs
    assert personalize.list_campaigns()["campaigns"] == []
    # And the stack still deletes completely
    delete_stack("shop", clock)
    assert personalize.list_solutions()["solutions"] == []


def test_deleting_the_stack_deletes_the_campaign_before_the_solution(clock: SimClock) -> None:
    # Given a stack whose campaign serves a version of its solution
    stack = deploy_stack("shop", Template(TEMPLATE, {"CampaignMinTPS": "1"}), clock)
    arn = stack.output("CampaignArn")
    version = trained_version(stack, clock)
    personalize = client("personalize")
    personalize.create_campaign(name=arn.rsplit("/", 1)[1], solutionVersionArn=version, minProvisionedTPS=1)
    campaign_once_settled(arn, clock)

    # When the stack is deleted (Personalize refuses to delete a solution a campaign uses)
    delete_stack("shop", clock)

    # Then the campaign, the solution and the filter are all gone
    assert personalize.list_campaigns()["campaigns"] == []
    assert personalize.list_solutions()["solutions"] == []
    assert personalize.list_filters()["Filters"] == []
