"""`recflow aws recs --realtime`: the stack's campaign asked through personalize-runtime (a Stubber on the exact
client the operator uses), with the stack's filter, printed like the batch listing."""

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from recflow.cli import app
from recflow.operator import recs
from recflow.operator.stack import OperatorError, Stack

REGION = "us-east-1"
CAMPAIGN = f"arn:aws:personalize:{REGION}:123456789012:campaign/recflow-5b1d0f70"
FILTER = f"arn:aws:personalize:{REGION}:123456789012:filter/recflow-5b1d0f70-exclude-seen"
OUTPUTS = {"DataBucketName": "lake", "StateMachineArn": "arn:sm", "SolutionArn": "arn:solution"}


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)


def _stack(outputs: dict[str, str]) -> tuple[Stack, Stubber]:
    stack = Stack(name="recflow", outputs={**OUTPUTS, **outputs}, session=boto3.session.Session(region_name=REGION))
    stubber = Stubber(stack.client("personalize-runtime"))
    stubber.activate()
    return stack, stubber


def _answer(items: list[tuple[str, float | None]]) -> dict[str, Any]:
    entries = [{"itemId": item} if score is None else {"itemId": item, "score": score} for item, score in items]
    return {"itemList": entries, "recommendationId": "RID-1"}


def test_the_campaign_is_asked_with_the_stacks_filter():
    # Given a stack with a campaign and a filter
    stack, stubber = _stack({"CampaignArn": CAMPAIGN, "FilterArn": FILTER})
    expected = {"campaignArn": CAMPAIGN, "userId": "75", "numResults": 25, "filterArn": FILTER}
    stubber.add_response("get_recommendations", _answer([("10", 0.25), ("4", 0.125)]), expected)
    # When the operator asks for user 75 in real time
    found = recs.ask_campaign(stack, "userId", "75")
    # Then the campaign was asked through the filter, and its answer kept in order
    stubber.assert_no_pending_responses()
    assert (found.items, found.scores) == (["10", "4"], [0.25, 0.125])
    assert (found.campaign_arn, found.filter_arn, found.recommendation_id) == (CAMPAIGN, FILTER, "RID-1")


def test_without_a_filter_output_the_campaign_is_asked_unfiltered_and_scoreless_items_have_none():
    stack, stubber = _stack({"CampaignArn": CAMPAIGN})
    expected = {"campaignArn": CAMPAIGN, "itemId": "7", "numResults": 25}
    stubber.add_response("get_recommendations", _answer([("8", None)]), expected)
    found = recs.ask_campaign(stack, "itemId", "7")
    assert (found.items, found.scores, found.filter_arn) == (["8"], [None], None)


def test_a_stack_without_a_campaign_says_how_to_get_one():
    stack, _ = _stack({})
    with pytest.raises(OperatorError) as caught:
        recs.ask_campaign(stack, "userId", "75")
    assert str(caught.value) == (
        "stack 'recflow' has no campaign (no CampaignArn output): deploy it with CampaignMinTPS 1 or more to get "
        "real-time recommendations, or drop --realtime to read the latest run's batch output"
    )


def test_a_campaign_that_does_not_answer_yet_is_one_sentence():
    stack, stubber = _stack({"CampaignArn": CAMPAIGN})
    stubber.add_client_error(
        "get_recommendations", "ResourceNotFoundException", f"The campaign {CAMPAIGN} does not exist.", 404
    )
    with pytest.raises(OperatorError, match=r"^campaign .* does not answer yet \(The campaign .* does not exist\.\)"):
        recs.ask_campaign(stack, "userId", "75")


def test_the_command_prints_the_campaigns_list_like_the_batch_listing(monkeypatch: pytest.MonkeyPatch):
    # Given `recflow aws` opening a stack whose campaign answers for user 75
    stack, stubber = _stack({"CampaignArn": CAMPAIGN, "FilterArn": FILTER})
    stubber.add_response("get_recommendations", _answer([("10", 0.25), ("4", 0.125)]))
    monkeypatch.setattr("recflow.operator.stack.open_stack", lambda name, endpoint, region: stack)
    # When the operator runs recs --realtime, and recs --realtime --run
    result = CliRunner().invoke(app, ["aws", "recs", "--user", "75", "--realtime"])
    both = CliRunner().invoke(app, ["aws", "recs", "--user", "75", "--realtime", "--run", "r1"])
    # Then the ranked items and scores are printed with where they came from; --run and --realtime exclude each other
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert "Recommendations for user 75 from campaign recflow-5b1d0f70 (real time)" in result.output
    assert ["│", "1", "│", "10", "│", "0.25", "│"] in lines
    assert ["│", "2", "│", "4", "│", "0.125", "│"] in lines
    assert f"({CAMPAIGN}, filter {FILTER}, RID-1)" in result.output.replace("\n", "")
    assert both.exit_code == 2
    assert "give one of them" in both.output
