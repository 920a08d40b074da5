"""personalize-runtime against the local service, through boto3 in process (moto with recflow's extensions):
GetRecommendations answers a campaign with the batch output's items, order and scores, with and without a
filter; GetPersonalizedRanking ranks a list for personalized-ranking campaigns only; errors carry the runtime's
error codes."""

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from recflow.offline.clock import SimClock
from recflow.offline.moto_extensions import GlueOutcome, extended_moto
from recflow.personalize_local.backend import backend_factory
from recflow.personalize_local.campaigns import CREATE_SECONDS
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer

from .helpers import BUCKET, REGION, ROLE, START, interactions_csv, put, read

RECIPES = "arn:aws:personalize:::recipe/"
EXCLUDE_SEEN = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'
USERS = [str(user) for user in range(1, 31)]
COLD_USER = "no-such-user"
LONG = 3600.0  # simulated seconds that let any local job or resource finish


@dataclass
class Deployed:
    personalize: Any
    runtime: Any
    clock: SimClock
    group: str
    filter: str
    campaigns: dict[str, str]  # recipe name -> ACTIVE campaign ARN
    batch: dict[bool, dict[str, dict]]  # filtered? -> user -> output of the user-personalization batch line
    seen: dict[str, set[str]]


def _seen(csv_text: str) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for line in csv_text.splitlines()[1:]:
        user, item, _ = line.split(",")
        seen.setdefault(user, set()).add(item)
    return seen


def _wait(clock: SimClock, describe, key: str) -> dict:
    clock.advance(LONG)
    described = describe()[key]
    assert described["status"] == "ACTIVE", described
    return described


@pytest.fixture
def deployed(aws, schema_arn) -> Any:
    clock = SimClock(start=START, scale=0)
    s3 = boto3.client("s3", region_name=REGION)
    factory = backend_factory(clock, lambda: s3, default_trainer(), LocalSettings())
    with extended_moto(clock, lambda name, args: GlueOutcome("SUCCEEDED"), factory):
        personalize = boto3.client("personalize", region_name=REGION)
        group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
        clock.advance(LONG)
        dataset = personalize.create_dataset(
            name="interactions", schemaArn=schema_arn, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        clock.advance(LONG)
        csv_text = interactions_csv()
        put(s3, "data/interactions.csv", csv_text)
        job = personalize.create_dataset_import_job(
            jobName="import", datasetArn=dataset, dataSource={"dataLocation": f"s3://{BUCKET}/data/"}, roleArn=ROLE
        )["datasetImportJobArn"]
        _wait(clock, lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job), "datasetImportJob")
        item_filter = personalize.create_filter(
            name="exclude-seen", datasetGroupArn=group, filterExpression=EXCLUDE_SEEN
        )
        _wait(clock, lambda: personalize.describe_filter(filterArn=item_filter["filterArn"]), "filter")

        campaigns, versions = {}, {}
        for recipe in ("aws-user-personalization-v2", "aws-personalized-ranking-v2", "aws-popularity-count"):
            solution = personalize.create_solution(
                name=recipe, datasetGroupArn=group, recipeArn=RECIPES + recipe, performAutoTraining=False
            )["solutionArn"]
            clock.advance(LONG)
            version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
            _wait(
                clock, lambda v=version: personalize.describe_solution_version(solutionVersionArn=v), "solutionVersion"
            )
            versions[recipe] = version
            campaign = personalize.create_campaign(name=recipe, solutionVersionArn=version)["campaignArn"]
            _wait(clock, lambda c=campaign: personalize.describe_campaign(campaignArn=c), "campaign")
            campaigns[recipe] = campaign

        put(s3, "batch/users.json", "".join(json.dumps({"userId": user}) + "\n" for user in [*USERS, COLD_USER]))
        batch = {}
        for filtered in (False, True):
            name = f"batch-{'filtered' if filtered else 'all'}"
            extra = {"filterArn": item_filter["filterArn"]} if filtered else {}
            arn = personalize.create_batch_inference_job(
                jobName=name,
                solutionVersionArn=versions["aws-user-personalization-v2"],
                jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/batch/users.json"}},
                jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/out/{name}/"}},
                roleArn=ROLE,
                **extra,
            )["batchInferenceJobArn"]
            _wait(
                clock,
                lambda a=arn: personalize.describe_batch_inference_job(batchInferenceJobArn=a),
                "batchInferenceJob",
            )
            lines = [json.loads(line) for line in read(s3, f"out/{name}/users.json.out").splitlines()]
            batch[filtered] = {line["input"]["userId"]: line["output"] for line in lines}

        yield Deployed(
            personalize=personalize,
            runtime=boto3.client("personalize-runtime", region_name=REGION),
            clock=clock,
            group=group,
            filter=item_filter["filterArn"],
            campaigns=campaigns,
            batch=batch,
            seen=_seen(csv_text),
        )


def _items(answer: dict) -> list[str]:
    return [entry["itemId"] for entry in answer["itemList"]]


def _error(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("filtered", [False, True])
def test_get_recommendations_equals_the_batch_output_for_every_user(deployed, filtered):
    # Given the user-personalization campaign and that solution version's batch output, with or without the filter
    campaign = deployed.campaigns["aws-user-personalization-v2"]
    extra = {"filterArn": deployed.filter} if filtered else {}
    for user in [*USERS, COLD_USER]:
        # When the campaign is asked for the user in real time (numResults left to its default)
        answer = deployed.runtime.get_recommendations(campaignArn=campaign, userId=user, **extra)
        batch = deployed.batch[filtered][user]
        # Then the items, their order and their scores are the batch line's
        assert _items(answer) == batch["recommendedItems"], user
        assert [entry["score"] for entry in answer["itemList"]] == batch["scores"], user
        assert len(answer["itemList"]) == 25
        assert answer["recommendationId"].startswith("RID-")


def test_the_filter_removes_seen_items_which_otherwise_appear(deployed):
    campaign = deployed.campaigns["aws-user-personalization-v2"]
    seen_unfiltered = seen_filtered = 0
    for user in USERS:
        unfiltered = _items(deployed.runtime.get_recommendations(campaignArn=campaign, userId=user))
        filtered = _items(
            deployed.runtime.get_recommendations(campaignArn=campaign, userId=user, filterArn=deployed.filter)
        )
        seen_unfiltered += len(set(unfiltered) & deployed.seen[user])
        seen_filtered += len(set(filtered) & deployed.seen[user])
    assert seen_unfiltered > 0
    assert seen_filtered == 0


def test_num_results_takes_the_head_of_the_list_and_context_is_ignored(deployed):
    campaign = deployed.campaigns["aws-user-personalization-v2"]
    full = deployed.runtime.get_recommendations(campaignArn=campaign, userId="3", numResults=500)
    head = deployed.runtime.get_recommendations(
        campaignArn=campaign, userId="3", numResults=5, context={"DEVICE": "mobile"}
    )
    assert len(full["itemList"]) == 97  # every item of the catalogue: seen items are not removed without a filter
    assert head["itemList"] == full["itemList"][:5]
    assert head["recommendationId"] != full["recommendationId"]


def test_recipes_without_scores_answer_items_only(deployed):
    # Given the popularity-count campaign
    campaign = deployed.campaigns["aws-popularity-count"]
    # When two users ask it
    first = deployed.runtime.get_recommendations(campaignArn=campaign, userId="1", numResults=10)
    second = deployed.runtime.get_recommendations(campaignArn=campaign, userId="2", numResults=10)
    # Then both get the same popular items, without scores
    assert first["itemList"] == second["itemList"]
    assert all(set(entry) == {"itemId"} for entry in first["itemList"])
    assert len(first["itemList"]) == 10


def test_personalized_ranking_orders_the_list_as_the_model_ranks_the_catalogue(deployed):
    # Given the user's list from the user-personalization model (same data, same seed, same algorithm)
    ranked_catalogue = deployed.batch[False]["7"]["recommendedItems"][:10]
    shuffled = [*reversed(ranked_catalogue), "not-in-training"]
    campaign = deployed.campaigns["aws-personalized-ranking-v2"]
    # When the ranking campaign ranks those items for the user, with and without the filter
    ranked = deployed.runtime.get_personalized_ranking(campaignArn=campaign, userId="7", inputList=shuffled)
    filtered = deployed.runtime.get_personalized_ranking(
        campaignArn=campaign, userId="7", inputList=shuffled, filterArn=deployed.filter
    )
    # Then the known items come in the model's order with scores summing to 1, the unknown one last with 0
    entries = ranked["personalizedRanking"]
    assert [e["itemId"] for e in entries] == [*ranked_catalogue, "not-in-training"]
    assert sum(e["score"] for e in entries) == pytest.approx(1.0, abs=1e-5)
    assert entries[-1]["score"] == 0.0
    assert [e["score"] for e in entries] == sorted((e["score"] for e in entries), reverse=True)
    # and the filter drops the items the user has seen
    kept = [e["itemId"] for e in filtered["personalizedRanking"]]
    assert kept == [item for item in [*ranked_catalogue, "not-in-training"] if item not in deployed.seen["7"]]


def test_requests_personalize_refuses_get_its_error_codes(deployed):
    runtime, personalize = deployed.runtime, deployed.personalize
    campaign = deployed.campaigns["aws-user-personalization-v2"]
    missing = campaign.replace(":campaign/", ":campaign/missing-")
    version = personalize.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"]
    creating = personalize.create_campaign(name="creating", solutionVersionArn=version)["campaignArn"]
    recommender = campaign.replace(":campaign/", ":recommender/")

    assert _error(lambda: runtime.get_recommendations(campaignArn=missing, userId="1")) == (
        "ResourceNotFoundException",
        404,
    )
    assert _error(lambda: runtime.get_recommendations(campaignArn=creating, userId="1"))[0] == (
        "ResourceNotFoundException"
    )
    for call in (
        lambda: runtime.get_recommendations(campaignArn=campaign, userId="1", numResults=501),
        lambda: runtime.get_recommendations(campaignArn=campaign, itemId="1"),
        lambda: runtime.get_recommendations(recommenderArn=recommender, userId="1"),
        lambda: runtime.get_recommendations(
            campaignArn=campaign, userId="1", promotions=[{"name": "p", "percentPromotedItems": 10}]
        ),
        lambda: runtime.get_recommendations(campaignArn=deployed.campaigns["aws-personalized-ranking-v2"], userId="1"),
        lambda: runtime.get_personalized_ranking(campaignArn=campaign, userId="1", inputList=["1", "2"]),
    ):
        assert _error(call) == ("InvalidInputException", 400)
    # Once the new campaign is ACTIVE it answers
    deployed.clock.advance(CREATE_SECONDS)
    assert len(runtime.get_recommendations(campaignArn=creating, userId="1")["itemList"]) == 25


def test_a_filter_of_another_dataset_group_is_refused_by_both_actions(deployed):
    # Given an ACTIVE filter of another dataset group
    personalize, clock = deployed.personalize, deployed.clock
    other = personalize.create_dataset_group(name="other")["datasetGroupArn"]
    clock.advance(LONG)
    foreign = personalize.create_filter(name="other-seen", datasetGroupArn=other, filterExpression=EXCLUDE_SEEN)
    _wait(clock, lambda: personalize.describe_filter(filterArn=foreign["filterArn"]), "filter")
    ranking = deployed.campaigns["aws-personalized-ranking-v2"]
    # When either action is asked through it, then both refuse it, as a batch inference job with it is refused
    for call in (
        lambda: deployed.runtime.get_recommendations(
            campaignArn=deployed.campaigns["aws-user-personalization-v2"], userId="7", filterArn=foreign["filterArn"]
        ),
        lambda: deployed.runtime.get_personalized_ranking(
            campaignArn=ranking, userId="7", inputList=["1", "2"], filterArn=foreign["filterArn"]
        ),
    ):
        assert _error(call) == ("InvalidInputException", 400)
