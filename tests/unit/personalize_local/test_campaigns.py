"""Campaigns of the local Personalize service: statuses on the simulated clock, updates, automatic updates and the
ResourceInUse cases, through PersonalizeResponses with every answer checked against botocore's model."""

import pytest

from recflow.personalize_local.campaigns import CREATE_SECONDS, DELETE_SECONDS, UPDATE_SECONDS
from recflow.personalize_local.errors import PersonalizeError

from .helpers import ACCOUNT, REGION, Api

PENDING = 10.0  # LocalSettings.pending_seconds' default


def _solution_of(api: Api, version: str) -> str:
    return api.version_status(version)["solutionArn"]


def _new_version(api: Api, solution: str) -> str:
    arn = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    api.finish("train")
    assert api.version_status(arn)["status"] == "ACTIVE"
    return arn


def _campaign(api: Api, arn: str) -> dict:
    return api.call("DescribeCampaign", campaignArn=arn)["campaign"]


def _error(api: Api, action: str, **request: object) -> PersonalizeError:
    with pytest.raises(PersonalizeError) as caught:
        api.call(action, **request)
    return caught.value


def test_a_campaign_is_pending_then_in_progress_then_active(api, s3, fake_recommender):
    # Given an ACTIVE solution version
    version = api.trained_version(s3)
    # When a campaign is created for it
    arn = api.call("CreateCampaign", name="shop", solutionVersionArn=version, minProvisionedTPS=2)["campaignArn"]
    created = api.clock.now()
    statuses = [_campaign(api, arn)["status"]]
    api.advance(PENDING)
    statuses.append(_campaign(api, arn)["status"])
    api.advance(CREATE_SECONDS - PENDING - 1)
    statuses.append(_campaign(api, arn)["status"])
    api.advance(1)
    described = _campaign(api, arn)
    # Then it goes through Personalize's creation statuses and describes what it deploys
    assert arn == f"arn:aws:personalize:{REGION}:{ACCOUNT}:campaign/shop"
    assert statuses == ["CREATE PENDING", "CREATE IN_PROGRESS", "CREATE IN_PROGRESS"]
    assert described == {
        "name": "shop",
        "campaignArn": arn,
        "status": "ACTIVE",
        "creationDateTime": created,
        "lastUpdatedDateTime": created + CREATE_SECONDS,
        "solutionVersionArn": version,
        "minProvisionedTPS": 2,
        "campaignConfig": {"syncWithLatestSolutionVersion": False},
    }
    assert api.backend.campaigns.served_version(arn) == version


def test_create_refuses_what_personalize_refuses(api, s3, fake_recommender):
    # Given an ACTIVE solution version, a campaign on it, and a version still training
    version = api.trained_version(s3)
    api.call("CreateCampaign", name="shop", solutionVersionArn=version)
    training = api.call("CreateSolutionVersion", solutionArn=_solution_of(api, version))["solutionVersionArn"]
    missing = version.rsplit("/", 1)[0] + "/00000000"
    # When creations break a rule, Then each gets Personalize's error
    assert _error(api, "CreateCampaign", name="shop", solutionVersionArn=version).code == (
        "ResourceAlreadyExistsException"
    )
    assert _error(api, "CreateCampaign", name="other", solutionVersionArn=training).code == "ResourceInUseException"
    assert _error(api, "CreateCampaign", name="other", solutionVersionArn=missing).code == "ResourceNotFoundException"
    zero_tps = _error(api, "CreateCampaign", name="other", solutionVersionArn=version, minProvisionedTPS=0)
    assert (zero_tps.code, "minProvisionedTPS" in zero_tps.message) == ("InvalidInputException", True)
    # $LATEST and syncWithLatestSolutionVersion go together
    latest = _solution_of(api, version) + "/$LATEST"
    unsynced = _error(api, "CreateCampaign", name="other", solutionVersionArn=latest)
    synced_pinned = _error(
        api,
        "CreateCampaign",
        name="other",
        solutionVersionArn=version,
        campaignConfig={"syncWithLatestSolutionVersion": True},
    )
    assert unsynced.code == synced_pinned.code == "InvalidInputException"
    assert "SolutionArn/$LATEST" in unsynced.message


def test_an_update_switches_the_version_only_once_it_is_active(api, s3, fake_recommender):
    # Given an ACTIVE campaign on the first version and a second ACTIVE version of the same solution
    first = api.trained_version(s3)
    arn = api.call("CreateCampaign", name="shop", solutionVersionArn=first)["campaignArn"]
    early = _error(api, "UpdateCampaign", campaignArn=arn, solutionVersionArn=first)
    api.advance(CREATE_SECONDS)
    second = _new_version(api, _solution_of(api, first))

    # When the campaign is updated to the second version
    assert api.call("UpdateCampaign", campaignArn=arn, solutionVersionArn=second, minProvisionedTPS=3) == {
        "campaignArn": arn
    }
    requested = api.clock.now()
    pending = _campaign(api, arn)
    again = _error(api, "UpdateCampaign", campaignArn=arn, solutionVersionArn=first)
    api.advance(PENDING)
    in_progress = _campaign(api, arn)
    served_meanwhile = api.backend.campaigns.served_version(arn)
    api.advance(UPDATE_SECONDS - PENDING)
    done = _campaign(api, arn)

    # Then the campaign stays ACTIVE on the first version until the update is ACTIVE, and serves it meanwhile
    assert early.code == again.code == "ResourceInUseException"
    assert [c["status"] for c in (pending, in_progress, done)] == ["ACTIVE"] * 3
    assert [c["latestCampaignUpdate"]["status"] for c in (pending, in_progress, done)] == [
        "UPDATE PENDING",
        "UPDATE IN_PROGRESS",
        "ACTIVE",
    ]
    assert (pending["solutionVersionArn"], pending["minProvisionedTPS"]) == (first, 1)
    assert (in_progress["solutionVersionArn"], served_meanwhile) == (first, first)
    assert (done["solutionVersionArn"], done["minProvisionedTPS"]) == (second, 3)
    assert done["latestCampaignUpdate"] == {
        "solutionVersionArn": second,
        "minProvisionedTPS": 3,
        "campaignConfig": {"syncWithLatestSolutionVersion": False},
        "status": "ACTIVE",
        "creationDateTime": requested,
        "lastUpdatedDateTime": requested + UPDATE_SECONDS,
    }
    assert done["lastUpdatedDateTime"] == requested + UPDATE_SECONDS
    assert api.backend.campaigns.served_version(arn) == second


def test_a_campaign_synced_with_the_latest_version_follows_each_new_active_version(api, s3, fake_recommender):
    # Given a campaign created with syncWithLatestSolutionVersion on SolutionArn/$LATEST
    first = api.trained_version(s3)
    solution = _solution_of(api, first)
    config = {"syncWithLatestSolutionVersion": True}
    arn = api.call("CreateCampaign", name="shop", solutionVersionArn=f"{solution}/$LATEST", campaignConfig=config)[
        "campaignArn"
    ]
    api.advance(CREATE_SECONDS)
    deployed_first = _campaign(api, arn)

    # When a new solution version trains and becomes ACTIVE
    second = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    while_training = _campaign(api, arn)
    api.finish("train")
    became_active = api.clock.now()
    updating = _campaign(api, arn)
    api.advance(UPDATE_SECONDS)
    followed = _campaign(api, arn)

    # Then the campaign updates itself to it, starting when it became ACTIVE
    assert deployed_first["solutionVersionArn"] == first
    assert deployed_first["campaignConfig"] == config
    assert "latestCampaignUpdate" not in while_training
    assert updating["solutionVersionArn"] == first
    assert updating["latestCampaignUpdate"]["solutionVersionArn"] == second
    assert updating["latestCampaignUpdate"]["creationDateTime"] == became_active
    assert updating["latestCampaignUpdate"]["status"] == "UPDATE PENDING"
    assert followed["solutionVersionArn"] == second
    assert followed["latestCampaignUpdate"]["status"] == "ACTIVE"


def test_a_synced_campaign_needs_an_active_version_and_a_pinned_one_ignores_new_versions(api, s3, fake_recommender):
    # Given a solution whose only version is still training, and a campaign pinned to a version
    first = api.trained_version(s3)
    solution = _solution_of(api, first)
    pinned = api.call("CreateCampaign", name="pinned", solutionVersionArn=first)["campaignArn"]
    api.advance(CREATE_SECONDS)
    group = api.call("DescribeSolution", solutionArn=solution)["solution"]["datasetGroupArn"]
    other = api.solution(group, name="other")
    api.call("CreateSolutionVersion", solutionArn=other)
    # When a synced campaign is created on the other solution, and the first solution trains again
    no_version = _error(
        api,
        "CreateCampaign",
        name="synced",
        solutionVersionArn=f"{other}/$LATEST",
        campaignConfig={"syncWithLatestSolutionVersion": True},
    )
    _new_version(api, solution)
    api.advance(UPDATE_SECONDS)
    # Then the first fails, and the pinned campaign stays on its version
    assert no_version.code == "InvalidInputException"
    assert _campaign(api, pinned)["solutionVersionArn"] == first
    assert "latestCampaignUpdate" not in _campaign(api, pinned)


def test_a_solution_with_a_campaign_cannot_be_deleted_until_the_campaign_is_gone(api, s3, fake_recommender):
    # Given an ACTIVE campaign on a solution's version
    version = api.trained_version(s3)
    solution = _solution_of(api, version)
    arn = api.call("CreateCampaign", name="shop", solutionVersionArn=version)["campaignArn"]
    creating = _error(api, "DeleteCampaign", campaignArn=arn)
    api.advance(CREATE_SECONDS)
    # When the solution is deleted, then the campaign, then the solution again
    in_use = _error(api, "DeleteSolution", solutionArn=solution)
    assert api.call("DeleteCampaign", campaignArn=arn) == {}
    statuses = [_campaign(api, arn)["status"]]
    deleting = _error(api, "DeleteSolution", solutionArn=solution)
    listed = api.call("ListCampaigns", solutionArn=solution)["campaigns"]
    api.advance(PENDING)
    statuses.append(_campaign(api, arn)["status"])
    not_serving = _error_of(lambda: api.backend.campaigns.served_version(arn))
    api.advance(DELETE_SECONDS - PENDING)
    gone = _error(api, "DescribeCampaign", campaignArn=arn)
    # Then the solution is in use until the campaign has gone through DELETE PENDING and DELETE IN_PROGRESS
    assert creating.code == in_use.code == deleting.code == "ResourceInUseException"
    assert arn in in_use.message
    assert statuses == ["DELETE PENDING", "DELETE IN_PROGRESS"]
    assert [c["status"] for c in listed] == ["DELETE PENDING"]
    assert not_serving.code == gone.code == "ResourceNotFoundException"
    assert api.call("ListCampaigns")["campaigns"] == []
    assert api.call("DeleteSolution", solutionArn=solution) == {}


def test_campaigns_are_listed_newest_first_by_solution(api, s3, fake_recommender):
    # Given two campaigns on one solution, created a second apart
    version = api.trained_version(s3)
    first = api.call("CreateCampaign", name="first", solutionVersionArn=version)["campaignArn"]
    api.advance(1)
    second = api.call("CreateCampaign", name="second", solutionVersionArn=version)["campaignArn"]
    # When they are listed, by solution and one per page
    by_solution = api.call("ListCampaigns", solutionArn=_solution_of(api, version))["campaigns"]
    page = api.call("ListCampaigns", maxResults=1)
    other_solution = api.call("ListCampaigns", solutionArn=_solution_of(api, version) + "-other")["campaigns"]
    # Then the newest comes first, with its status
    assert [(c["campaignArn"], c["status"]) for c in by_solution] == [
        (second, "CREATE PENDING"),
        (first, "CREATE PENDING"),
    ]
    assert [c["campaignArn"] for c in page["campaigns"]] == [second]
    assert page["nextToken"] == "1"
    assert other_solution == []


def _error_of(call) -> PersonalizeError:
    with pytest.raises(PersonalizeError) as caught:
        call()
    return caught.value
