"""The offline stack through CloudFormation's lifecycle: create with a long name, update, delete, rollback.

The solution custom resource answers through its real handler at each step, as its function would on AWS.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws
from offline_aws import start_training
from recflow_lambda.clients import clear_clients

from recflow.offline.clock import SimClock
from recflow.offline.deployers import DeployError
from recflow.offline.glue_local import GlueLocal
from recflow.offline.moto_extensions import bucket_policy_conditions_as_aws, extended_moto
from recflow.offline.runtime import _MOTO_CONFIG, offline_environment
from recflow.offline.stack import TEMPLATE, Stack, delete_stack, deploy_stack, describe_stack, update_stack
from recflow.offline.template import REGION, Template
from recflow.personalize_local.backend import PersonalizeBackend
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer

ROOT = Path(__file__).resolve().parents[3]
LONG_NAME = "recflow-production-eu-west-1-recommendations-team1"
PERSONALIZE = "arn:aws:personalize:us-east-1:123456789012"


class Offline:
    """One mocked account with recflow's moto extensions and its local Personalize backend."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.backends: list[PersonalizeBackend] = []

    def backend(self, account: str, region: str, schemas: Any) -> PersonalizeBackend:
        backend = PersonalizeBackend(
            account,
            region,
            clock=self.clock,
            s3=lambda: client("s3"),
            schemas=schemas,
            trainer=default_trainer(),
            settings=LocalSettings(),
        )
        self.backends.append(backend)
        return backend


@pytest.fixture
def offline() -> Iterator[Offline]:
    clock = SimClock(scale=0)
    account = Offline(clock)
    with offline_environment(), mock_aws(config=_MOTO_CONFIG):
        clear_clients()
        with extended_moto(clock, GlueLocal(clock).run, account.backend), bucket_policy_conditions_as_aws():
            yield account
    clear_clients()


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def stack_key(stack: Stack) -> str:
    """The first group of the stack id's UUID, which template.yaml names the Personalize resources after."""
    (description,) = client("cloudformation").describe_stacks(StackName=stack.name)["Stacks"]
    return str(description["StackId"].rsplit("/", 1)[1].split("-")[0])


def personalize_names() -> dict[str, list[str]]:
    personalize = client("personalize")
    return {
        "dataset group": [g["name"] for g in personalize.list_dataset_groups()["datasetGroups"]],
        "schema": [s["name"] for s in personalize.list_schemas()["schemas"]],
        "dataset": [d["name"] for d in personalize.list_datasets()["datasets"]],
        "solution": [s["name"] for s in personalize.list_solutions()["solutions"]],
    }


def function_environment(stack: Stack, logical_id: str) -> dict[str, str]:
    configuration = client("lambda").get_function_configuration(FunctionName=stack.resources[logical_id].physical_id)
    return dict(configuration["Environment"]["Variables"])


def test_a_stack_with_a_50_character_name_deploys_with_valid_personalize_names(offline):
    # Given a stack name of 50 characters (the custom resource used to refuse 36 and more)
    assert len(LONG_NAME) == 50
    # When the stack is deployed
    stack = deploy_stack(LONG_NAME, Template(TEMPLATE, {"Recipe": "aws-user-personalization-v2"}), offline.clock)
    # Then it is complete, and every Personalize name fits botocore's model for CreateSolution & co.
    assert stack.status == "CREATE_COMPLETE"
    model = botocore.session.get_session().get_service_model("personalize").shape_for("Name").metadata
    names = personalize_names()
    for name in [name for kind in names.values() for name in kind]:
        assert re.fullmatch(model["pattern"], name) and len(name) <= model["max"], name
    key = stack_key(stack)
    assert names == {
        "dataset group": [f"recflow-{key}"],
        "schema": [f"recflow-{key}-interactions"],
        "dataset": [f"recflow-{key}-interactions"],
        "solution": [f"recflow-{key}-aws-user-personalization-v2"],
    }
    assert stack.output("SolutionArn") == f"{PERSONALIZE}:solution/recflow-{key}-aws-user-personalization-v2"


def test_a_recipe_change_replaces_the_solution_and_the_old_one_is_deleted(offline):
    # Given a stack deployed with the aws-sims recipe
    stack = deploy_stack("shop", Template(TEMPLATE, {"Recipe": "aws-sims"}), offline.clock)
    old = stack.output("SolutionArn")
    # When the stack is updated to another recipe
    updated = update_stack("shop", Template(TEMPLATE, {"Recipe": "aws-popularity-count"}), offline.clock)
    # Then the solution of the new recipe replaces the old one, which is gone
    new = updated.output("SolutionArn")
    key = stack_key(stack)
    assert updated.status == "UPDATE_COMPLETE"
    assert (old, new) == (
        f"{PERSONALIZE}:solution/recflow-{key}-aws-sims",
        f"{PERSONALIZE}:solution/recflow-{key}-aws-popularity-count",
    )
    solution = client("personalize").describe_solution(solutionArn=new)["solution"]
    assert (solution["recipeArn"], solution["performAutoTraining"]) == (
        "arn:aws:personalize:::recipe/aws-popularity-count",
        False,
    )
    assert personalize_names()["solution"] == [f"recflow-{key}-aws-popularity-count"]
    # And the functions that use the solution and the recipe were updated with them
    assert function_environment(updated, "StartTrainingFunction")["SOLUTION_ARN"] == new
    assert function_environment(updated, "StartBatchFunction")["RECIPE_ARN"] == (
        "arn:aws:personalize:::recipe/aws-popularity-count"
    )
    assert updated.resources["Solution"].physical_id == new


def test_deleting_the_stack_deletes_its_personalize_resources(offline):
    # Given a deployed stack
    stack = deploy_stack("shop", Template(TEMPLATE), offline.clock)
    stack_id = client("cloudformation").describe_stacks(StackName="shop")["Stacks"][0]["StackId"]
    # When it is deleted
    delete_stack("shop", offline.clock)
    # Then the stack is DELETE_COMPLETE and no Personalize resource of it is left
    (deleted,) = client("cloudformation").describe_stacks(StackName=stack_id)["Stacks"]
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
    assert personalize_names() == {"dataset group": [], "schema": [], "dataset": [], "solution": []}
    assert stack.output("SolutionArn").startswith(f"{PERSONALIZE}:solution/recflow-")


def test_a_failed_create_rolls_back_and_the_delete_of_the_solution_answers_success(offline, tmp_path):
    # Given a template whose solution names a recipe Personalize does not have
    for directory in ("functions", "statemachine", "glue"):
        (tmp_path / directory).symlink_to(ROOT / directory)
    text = TEMPLATE.read_text()
    solution_recipe = "      RecipeArn: !Sub arn:${AWS::Partition}:personalize:::recipe/${Recipe}\n"
    assert text.count(solution_recipe) == 1
    (tmp_path / "template.yaml").write_text(
        text.replace(solution_recipe, "      RecipeArn: arn:aws:personalize:::recipe/aws-no-such-recipe\n")
    )
    # When it is deployed
    with pytest.raises(DeployError) as error:
        deploy_stack("shop", Template(tmp_path / "template.yaml"), offline.clock)
    # Then the Create answered FAILED, the rollback's Delete answered SUCCESS without a solution to delete
    assert str(error.value) == (
        "Solution (Custom::PersonalizeSolution) failed: Personalize CreateSolution failed with "
        "ResourceNotFoundException: The recipe arn:aws:personalize:::recipe/aws-no-such-recipe does not exist. "
        "The rollback's Delete answered SUCCESS: Nothing to delete: the Create made no solution "
        "(Solution-not-created)."
    )
    # And the stack rolled back completely: ROLLBACK_COMPLETE, its Personalize resources deleted
    rolled_back = describe_stack("shop")
    assert (rolled_back.status, rolled_back.resources) == ("ROLLBACK_COMPLETE", {})
    assert personalize_names() == {"dataset group": [], "schema": [], "dataset": [], "solution": []}


def test_deleting_the_stack_while_a_solution_version_trains_stops_the_training(offline):
    # Given a deployed stack whose solution has a version in training
    stack = deploy_stack("shop", Template(TEMPLATE), offline.clock)
    stack_id = client("cloudformation").describe_stacks(StackName="shop")["Stacks"][0]["StackId"]
    version = start_training(stack, offline.clock)
    personalize = client("personalize")
    assert personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"] in (
        "CREATE PENDING",
        "CREATE IN_PROGRESS",
    )
    # When the stack is deleted
    delete_stack("shop", offline.clock)
    # Then the training was stopped, the solution deleted and the stack is DELETE_COMPLETE
    (training,) = [job for job in offline.backends[0].job_records() if job["phase"] == "train"]
    assert (training["arn"], training["status"]) == (version, "CREATE STOPPED")
    assert personalize_names()["solution"] == []
    (deleted,) = client("cloudformation").describe_stacks(StackName=stack_id)["Stacks"]
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
