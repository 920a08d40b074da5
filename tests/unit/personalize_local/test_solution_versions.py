"""Solution versions: training on the imported interactions, metrics, errors like the real API."""

import re

import numpy as np
import pytest

from recflow.personalize_local.errors import PersonalizeError

from .helpers import ACCOUNT, RECIPE, REGION, interactions_csv


def error(api, action: str, **request) -> PersonalizeError:
    with pytest.raises(PersonalizeError) as caught:
        api.call(action, **request)
    return caught.value


def test_training_runs_once_when_due_and_metrics_come_from_the_model(api, s3, fake_recommender):
    # Given imported interactions and an ACTIVE solution
    group, _ = api.imported_dataset(s3)
    solution = api.solution(group, performAutoTraining=False)

    # When a solution version is created and described while time passes
    arn = api.call("CreateSolutionVersion", solutionArn=solution, trainingMode="FULL")["solutionVersionArn"]
    pending = api.version_status(arn)
    api.advance(10)
    in_progress = api.version_status(arn)
    metrics_too_early = error(api, "GetSolutionMetrics", solutionVersionArn=arn)
    api.finish("train")
    active = api.version_status(arn)
    api.version_status(arn)

    # Then the ARN is the solution's plus an 8-hex version id, and the status follows the clock
    assert re.fullmatch(rf"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/recflow-solution/[0-9a-f]{{8}}", arn)
    assert [pending["status"], in_progress["status"], active["status"]] == [
        "CREATE PENDING",
        "CREATE IN_PROGRESS",
        "ACTIVE",
    ]
    assert (metrics_too_early.code, metrics_too_early.message) == (
        "ResourceInUseException",
        f"The solution version {arn} is CREATE IN_PROGRESS; it must be ACTIVE.",
    )
    assert active["solutionArn"] == solution
    assert active["recipeArn"] == RECIPE
    assert active["trainingMode"] == "FULL"
    assert active["trainingHours"] == pytest.approx(590 / 3600, abs=1e-6)
    # And training ran exactly once, on the imported data with the recipe and the seed
    [model] = fake_recommender.trained
    assert (len(model.users), model.recipe, model.seed) == (1200, RECIPE, 0)
    assert model.timestamps.dtype == np.int64
    # And GetSolutionMetrics returns the model's metrics as plain floats
    assert api.call("GetSolutionMetrics", solutionVersionArn=arn) == {
        "solutionVersionArn": arn,
        "metrics": {"coverage": 0.5, "precision_at_25": 0.125},
    }


def test_solution_reports_its_latest_version(api, s3, fake_recommender):
    version = api.trained_version(s3)
    solution = api.call("DescribeSolution", solutionArn=version.rsplit("/", 1)[0])["solution"]
    assert solution["latestSolutionVersion"]["solutionVersionArn"] == version
    assert solution["latestSolutionVersion"]["status"] == "ACTIVE"


def test_solution_version_needs_an_active_solution(api, s3):
    group, _ = api.imported_dataset(s3)
    solution = api.call("CreateSolution", name="s", datasetGroupArn=group, recipeArn=RECIPE)["solutionArn"]
    failure = error(api, "CreateSolutionVersion", solutionArn=solution)
    assert (failure.code, failure.message) == (
        "ResourceInUseException",
        f"The solution {solution} is CREATE PENDING; wait until it is ACTIVE.",
    )


def test_solution_version_needs_imported_interactions(api):
    group = api.dataset_group()
    api.dataset(group)
    solution = api.solution(group)
    failure = error(api, "CreateSolutionVersion", solutionArn=solution)
    assert (failure.code, failure.message) == (
        "InvalidInputException",
        f"The dataset group {group} has no imported interactions; import data with CreateDatasetImportJob "
        "before creating a solution version.",
    )


def test_too_few_active_users_fail_the_training(api, s3, fake_recommender):
    # Given 1,200 interactions but only 24 users with 2+ interactions
    group, _ = api.imported_dataset(s3, interactions_csv(users=24, per_user=50))
    solution = api.solution(group)

    # When a version trains
    arn = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    api.finish("train")
    version = api.version_status(arn)

    # Then it fails with Personalize's minimums, and the recommender never ran
    assert version["status"] == "CREATE FAILED"
    assert version["failureReason"] == (
        f"Insufficient training data in dataset group {group}: training needs at least 1000 interactions and "
        "25 users with at least 2 interactions each, but the dataset has 1200 interactions and 24 such users."
    )
    assert fake_recommender.trained == []


def test_recommender_value_error_fails_the_version_with_its_message(api, s3, fake_recommender, monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError("recipe aws-user-personalization-v2 needs more items")

    monkeypatch.setattr(fake_recommender, "train", refuse)
    group, _ = api.imported_dataset(s3)
    arn = api.call("CreateSolutionVersion", solutionArn=api.solution(group))["solutionVersionArn"]
    api.finish("train")
    assert api.version_status(arn)["failureReason"] == (
        "Training failed: recipe aws-user-personalization-v2 needs more items"
    )


def test_version_trains_on_the_data_as_it_was_when_created(api, s3, fake_recommender):
    # Given a version created, then a FULL import of other users finishing before the version is due
    group, dataset = api.imported_dataset(s3)
    arn = api.call("CreateSolutionVersion", solutionArn=api.solution(group))["solutionVersionArn"]
    s3.put_object(Bucket="lake", Key="later/part-0.csv", Body=interactions_csv(first_user=500).encode())
    api.start_import(dataset, "s3://lake/later/", name="later")
    api.finish("train")
    assert api.version_status(arn)["status"] == "ACTIVE"
    # Then the model was trained on the first import's users
    assert set(fake_recommender.trained[0].users.tolist()) == {str(u) for u in range(1, 31)}


def test_named_versions_are_unique_per_solution(api, s3, fake_recommender):
    group, _ = api.imported_dataset(s3)
    solution = api.solution(group)
    api.call("CreateSolutionVersion", solutionArn=solution, name="run-1-train")
    failure = error(api, "CreateSolutionVersion", solutionArn=solution, name="run-1-train")
    assert failure.code == "ResourceAlreadyExistsException"
    assert failure.message == f"The solution {solution} already has a solution version named run-1-train."


def test_update_training_needs_an_active_version_and_autotrain_is_refused(api, s3, fake_recommender):
    group, _ = api.imported_dataset(s3)
    solution = api.solution(group)
    assert error(api, "CreateSolutionVersion", solutionArn=solution, trainingMode="UPDATE").code == (
        "InvalidInputException"
    )
    assert error(api, "CreateSolutionVersion", solutionArn=solution, trainingMode="AUTOTRAIN").code == (
        "InvalidInputException"
    )


def test_list_solution_versions_filters_by_solution(api, s3, fake_recommender):
    # Given two versions of one solution and a solution without versions
    group, _ = api.imported_dataset(s3)
    solution = api.solution(group)
    other = api.solution(group, name="other")
    first = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    api.finish("train")
    second = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]

    # When they are listed per solution
    listed = api.call("ListSolutionVersions", solutionArn=solution)["solutionVersions"]

    # Then the newest comes first, each with its observed status, and ids differ
    assert [(v["solutionVersionArn"], v["status"]) for v in listed] == [
        (second, "CREATE PENDING"),
        (first, "ACTIVE"),
    ]
    assert first != second
    assert api.call("ListSolutionVersions", solutionArn=other)["solutionVersions"] == []
    missing = error(api, "ListSolutionVersions", solutionArn=solution + "-gone")
    assert missing.code == "ResourceNotFoundException"


def test_deleting_a_solution_while_a_version_trains_is_refused(api, s3, fake_recommender):
    group, _ = api.imported_dataset(s3)
    solution = api.solution(group)
    api.call("CreateSolutionVersion", solutionArn=solution)
    assert error(api, "DeleteSolution", solutionArn=solution).code == "ResourceInUseException"
    api.finish("train")
    assert api.call("DeleteSolution", solutionArn=solution) == {}


def test_training_with_the_real_recommender(api, s3):
    # Given enough interactions for Personalize's minimums
    version = api.trained_version(s3)

    # When its metrics are read
    metrics = api.call("GetSolutionMetrics", solutionVersionArn=version)["metrics"]

    # Then they carry Personalize's metric names with values in [0, 1]
    for name in ("coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_10"):
        assert 0.0 <= metrics[name] <= 1.0


def test_recreated_solution_gets_new_version_ids_and_the_job_history_is_kept(api, s3, fake_recommender):
    # Given a trained version whose solution is then deleted and created again under the same name
    first = api.trained_version(s3)
    solution = first.rsplit("/", 1)[0]
    api.call("DeleteSolution", solutionArn=solution)
    group = f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/recflow"
    assert api.solution(group, performAutoTraining=False) == solution

    # When it trains again
    second = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]

    # Then the new version has another id, the old one is gone from the API but not from the job records
    assert second != first
    assert error(api, "DescribeSolutionVersion", solutionVersionArn=first).code == "ResourceNotFoundException"
    assert [record.arn for record in api.backend.jobs() if record.phase == "train"] == [first, second]
