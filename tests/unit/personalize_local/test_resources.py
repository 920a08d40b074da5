"""Dataset groups, datasets and solutions: creation, status on the clock, errors like the real API."""

import json
import re

import boto3
import pytest

from recflow.personalize_local.errors import PersonalizeError
from recflow.personalize_local.responses import PersonalizeResponses

from .helpers import ACCOUNT, RECIPE, REGION, START

GROUP_ARN = f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/recflow"


def error(api, action: str, **request) -> PersonalizeError:
    with pytest.raises(PersonalizeError) as caught:
        api.call(action, **request)
    return caught.value


def test_dataset_group_is_pending_then_active_on_the_simulated_clock(api):
    # Given a new dataset group
    arn = api.call("CreateDatasetGroup", name="recflow")["datasetGroupArn"]
    assert arn == GROUP_ARN

    # When it is described now and after the resource delay
    before = api.call("DescribeDatasetGroup", datasetGroupArn=arn)["datasetGroup"]
    api.advance(5)
    after = api.call("DescribeDatasetGroup", datasetGroupArn=arn)["datasetGroup"]

    # Then it goes from CREATE PENDING to ACTIVE with simulated epoch times
    assert before == {
        "name": "recflow",
        "datasetGroupArn": GROUP_ARN,
        "status": "CREATE PENDING",
        "creationDateTime": START,
        "lastUpdatedDateTime": START,
    }
    assert after["status"] == "ACTIVE"
    assert after["lastUpdatedDateTime"] == START + 5


def test_creating_a_dataset_group_twice_fails_with_already_exists(api):
    api.call("CreateDatasetGroup", name="recflow")
    failure = error(api, "CreateDatasetGroup", name="recflow")
    assert failure.code == "ResourceAlreadyExistsException"
    assert failure.message == f"The dataset group {GROUP_ARN} already exists."


@pytest.mark.parametrize("name", ["-starts-with-dash", "has space", "x" * 64, "dots.are.not.allowed", ""])
def test_names_outside_the_api_pattern_are_invalid_input(api, name):
    failure = error(api, "CreateDatasetGroup", name=name)
    assert failure.code == "InvalidInputException"
    assert re.match(rf"\d validation errors? detected: Value '{name[:100]}' at 'name' failed", failure.message)


def test_missing_required_members_are_reported_together(api):
    failure = error(api, "CreateBatchInferenceJob", jobName="b")
    assert failure.code == "InvalidInputException"
    assert failure.message.startswith("4 validation errors detected: Value null at 'solutionVersionArn'")
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in failure.message


def test_wrong_types_and_enum_values_are_invalid_input(api):
    failure = error(
        api,
        "CreateDatasetImportJob",
        jobName="j",
        datasetArn="arn:aws:personalize:us-east-1:123456789012:dataset/recflow/INTERACTIONS",
        dataSource={"dataLocation": "s3://lake/x/"},
        importMode="SOMETIMES",
    )
    assert failure.message == (
        "1 validation error detected: Value 'SOMETIMES' at 'importMode' failed to satisfy constraint: "
        "Member must satisfy enum value set: [FULL, INCREMENTAL]"
    )
    failure = error(api, "ListDatasetGroups", maxResults=True)
    assert "Value True at 'maxResults' failed to satisfy constraint: Member must be of type integer" in failure.message


def test_unknown_arns_are_not_found(api):
    failure = error(api, "DescribeDatasetGroup", datasetGroupArn=GROUP_ARN)
    assert (failure.code, failure.message) == (
        "ResourceNotFoundException",
        f"The dataset group {GROUP_ARN} does not exist.",
    )


def test_unknown_action_is_refused(api):
    with pytest.raises(PersonalizeError) as caught:
        api.responses.handle("CreateRecommender", {"name": "c"})
    assert caught.value.code == "UnknownOperationException"
    assert "CreateRecommender" not in PersonalizeResponses.ACTIONS


def test_dataset_uses_a_schema_created_through_moto(api):
    # Given an ACTIVE dataset group and moto's schema
    group = api.dataset_group()

    # When an Interactions dataset is created with it
    arn = api.call(
        "CreateDataset",
        name="interactions",
        schemaArn=api.schema_arn,
        datasetGroupArn=group,
        datasetType="Interactions",
    )["datasetArn"]

    # Then it has the real ARN layout and describes with the schema
    assert arn == f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset/recflow/INTERACTIONS"
    dataset = api.call("DescribeDataset", datasetArn=arn)["dataset"]
    assert dataset["schemaArn"] == api.schema_arn
    assert dataset["datasetType"] == "INTERACTIONS"
    assert dataset["status"] == "CREATE PENDING"
    api.advance(5)
    assert api.call("ListDatasets", datasetGroupArn=group)["datasets"][0]["status"] == "ACTIVE"


def test_dataset_needs_an_active_dataset_group(api):
    group = api.call("CreateDatasetGroup", name="recflow")["datasetGroupArn"]
    failure = error(
        api,
        "CreateDataset",
        name="i",
        schemaArn=api.schema_arn,
        datasetGroupArn=group,
        datasetType="Interactions",
    )
    assert (failure.code, failure.message) == (
        "ResourceInUseException",
        f"The dataset group {group} is CREATE PENDING; wait until it is ACTIVE.",
    )


def test_dataset_with_an_unknown_schema_is_not_found(api):
    group = api.dataset_group()
    missing = f"arn:aws:personalize:{REGION}:{ACCOUNT}:schema/nope"
    failure = error(
        api, "CreateDataset", name="i", schemaArn=missing, datasetGroupArn=group, datasetType="Interactions"
    )
    assert (failure.code, failure.message) == (
        "ResourceNotFoundException",
        f"The schema {missing} does not exist.",
    )


def test_dataset_schema_must_have_the_interactions_fields(api):
    group = api.dataset_group()
    schema = {"type": "record", "name": "I", "fields": [{"name": "USER_ID", "type": "string"}]}
    arn = boto3.client("personalize", region_name=REGION).create_schema(name="thin", schema=json.dumps(schema))[
        "schemaArn"
    ]
    failure = error(api, "CreateDataset", name="i", schemaArn=arn, datasetGroupArn=group, datasetType="Interactions")
    assert failure.code == "InvalidInputException"
    assert failure.message == (
        f"The schema {arn} cannot be used for an Interactions dataset: "
        "it lacks the required field(s) ITEM_ID, TIMESTAMP."
    )


def test_only_interactions_datasets_are_supported(api):
    group = api.dataset_group()
    failure = error(
        api, "CreateDataset", name="i", schemaArn=api.schema_arn, datasetGroupArn=group, datasetType="Items"
    )
    assert failure.code == "InvalidInputException"
    assert failure.message == "The local Personalize service supports only Interactions datasets, not Items."


def test_second_interactions_dataset_in_a_group_already_exists(api):
    group = api.dataset_group()
    api.dataset(group)
    failure = error(
        api,
        "CreateDataset",
        name="again",
        schemaArn=api.schema_arn,
        datasetGroupArn=group,
        datasetType="Interactions",
    )
    assert failure.code == "ResourceAlreadyExistsException"


def test_solution_reports_perform_auto_training_true_when_omitted(api):
    # Given a solution created without performAutoTraining, like the real API's default
    group = api.dataset_group()
    arn = api.call("CreateSolution", name="sol", datasetGroupArn=group, recipeArn=RECIPE)["solutionArn"]

    # When it is described
    solution = api.call("DescribeSolution", solutionArn=arn)["solution"]

    # Then it retrains automatically (as Personalize would), is pending, and has the real ARN layout
    assert arn == f"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/sol"
    assert solution["performAutoTraining"] is True
    assert solution["status"] == "CREATE PENDING"
    assert solution["recipeArn"] == RECIPE
    assert solution["datasetGroupArn"] == group
    assert "latestSolutionVersion" not in solution


def test_solution_keeps_perform_auto_training_false(api):
    group = api.dataset_group()
    arn = api.call("CreateSolution", name="sol", datasetGroupArn=group, recipeArn=RECIPE, performAutoTraining=False)[
        "solutionArn"
    ]
    api.advance(5)
    solution = api.call("DescribeSolution", solutionArn=arn)["solution"]
    assert solution["performAutoTraining"] is False
    assert solution["status"] == "ACTIVE"


def test_solution_with_an_unknown_recipe_is_not_found(api):
    group = api.dataset_group()
    recipe = "arn:aws:personalize:::recipe/aws-mind-reading"
    failure = error(api, "CreateSolution", name="sol", datasetGroupArn=group, recipeArn=recipe)
    assert (failure.code, failure.message) == (
        "ResourceNotFoundException",
        f"The recipe {recipe} does not exist.",
    )


def test_solution_name_is_unique(api):
    group = api.dataset_group()
    api.solution(group)
    failure = error(api, "CreateSolution", name="recflow-solution", datasetGroupArn=group, recipeArn=RECIPE)
    assert failure.code == "ResourceAlreadyExistsException"


def test_list_solutions_filters_by_dataset_group_and_pages_newest_first(api):
    # Given two groups, the first with three solutions created a second apart
    first, second = api.dataset_group("one"), api.dataset_group("two")
    for name in ("a", "b", "c"):
        api.call("CreateSolution", name=name, datasetGroupArn=first, recipeArn=RECIPE)
        api.advance(1)
    api.call("CreateSolution", name="other", datasetGroupArn=second, recipeArn=RECIPE)

    # When the first group's solutions are listed two at a time
    page_one = api.call("ListSolutions", datasetGroupArn=first, maxResults=2)
    page_two = api.call("ListSolutions", datasetGroupArn=first, maxResults=2, nextToken=page_one["nextToken"])

    # Then they come newest first, across both pages, without the other group's
    assert [s["name"] for s in page_one["solutions"]] == ["c", "b"]
    assert [s["name"] for s in page_two["solutions"]] == ["a"]
    assert "nextToken" not in page_two
    assert error(api, "ListSolutions", nextToken="garbage").code == "InvalidNextTokenException"


def test_deleting_a_dataset_group_in_use_fails_until_its_resources_are_gone(api):
    # Given a group with a dataset and a solution
    group = api.dataset_group()
    dataset = api.dataset(group)
    solution = api.solution(group)

    # When the group is deleted first, Then it is in use
    assert error(api, "DeleteDatasetGroup", datasetGroupArn=group).code == "ResourceInUseException"

    # When its resources are deleted first, Then the group goes too
    assert api.call("DeleteSolution", solutionArn=solution) == {}
    assert api.call("DeleteDataset", datasetArn=dataset) == {}
    assert api.call("DeleteDatasetGroup", datasetGroupArn=group) == {}
    assert api.call("ListDatasetGroups")["datasetGroups"] == []
    assert error(api, "DescribeSolution", solutionArn=solution).code == "ResourceNotFoundException"
