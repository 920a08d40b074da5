"""ResourceInUseException from a Personalize job creation is retried by name, with a backoff outlasting a busy job."""

import json
from pathlib import Path

import pytest
from recflow_lambda import personalize
from recflow_lambda.errors import PersonalizeRequestFailed, PersonalizeResourceInUse

ROOT = Path(__file__).resolve().parents[3]
STATES = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())["States"]
STARTS = ("Start import", "Start training", "Start batch recommendations")
PREFIX = "arn:aws:personalize:us-east-1:123456789012"
IMPORT_ARN = f"{PREFIX}:dataset-import-job/recflow-run-import"
SOLUTION_ARN = f"{PREFIX}:solution/recflow-solution"


def test_an_import_refused_as_in_use_raises_personalize_resource_in_use_naming_the_call(personalize_stubber):
    # Given no import job yet, and a dataset Personalize says is in use
    personalize_stubber.add_client_error("describe_dataset_import_job", "ResourceNotFoundException")
    personalize_stubber.add_client_error(
        "create_dataset_import_job", "ResourceInUseException", "Dataset has an import job in progress"
    )

    # When the pipeline creates its import
    with pytest.raises(PersonalizeResourceInUse) as raised:
        personalize.ensure_dataset_import_job(
            name="recflow-run-import",
            arn=IMPORT_ARN,
            dataset_arn=f"{PREFIX}:dataset/recflow/INTERACTIONS",
            data_location="s3://bucket/transformed/run/interactions/",
            role_arn="arn:aws:iam::123456789012:role/personalize",
        )

    # Then the error names the call, Personalize's reason and what the operator can do
    assert str(raised.value) == (
        "Personalize CreateDatasetImportJob was refused with ResourceInUseException (Dataset has an import job in "
        "progress): a resource it needs is busy or not ACTIVE yet, for example held by another job. The pipeline "
        "retries for up to 3.5 hours; if this is the last word, start the run again once the other job has finished."
    )


def test_a_training_refused_as_in_use_raises_personalize_resource_in_use(personalize_stubber):
    personalize_stubber.add_response("list_solution_versions", {"solutionVersions": []})
    personalize_stubber.add_client_error("create_solution_version", "ResourceInUseException", "Solution is PENDING")

    with pytest.raises(PersonalizeResourceInUse, match=r"CreateSolutionVersion was refused with ResourceInUse"):
        personalize.ensure_solution_version(name="recflow-run-train", solution_arn=SOLUTION_ARN, created_after=None)


def test_resource_in_use_outside_a_job_creation_stays_a_request_failure(personalize_stubber):
    # DeleteSolution refuses while versions train: the custom resource handles it, the state machine never sees it
    personalize_stubber.add_client_error("delete_solution", "ResourceInUseException", "versions in progress")

    with pytest.raises(PersonalizeRequestFailed) as raised:
        personalize.delete_solution(SOLUTION_ARN)

    assert type(raised.value) is PersonalizeRequestFailed


def _retry_waits(retry: dict) -> list[float]:
    """The most each retry of a Retrier waits (before jitter): interval × rate^n, capped."""
    return [
        min(retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry["MaxDelaySeconds"])
        for n in range(retry["MaxAttempts"])
    ]


@pytest.mark.parametrize("state", STARTS)
def test_each_job_start_retries_resource_in_use_with_full_jitter_for_the_documented_hours(state):
    (retry,) = [r for r in STATES[state]["Retry"] if r["ErrorEquals"] == ["PersonalizeResourceInUse"]]
    assert (retry["BackoffRate"], retry["JitterStrategy"]) == (2.0, "FULL")
    waits = _retry_waits(retry)
    # Long enough to outlast another run's import (the default import deadline is 2 h) and said in the message
    assert sum(waits) == personalize.IN_USE_RETRY_HOURS * 3600 == 12_600
    assert waits[-1] == 1800


@pytest.mark.parametrize("state", STARTS)
def test_resource_in_use_and_throttling_have_separate_retriers_before_the_catch_all(state):
    retried = [r["ErrorEquals"] for r in STATES[state]["Retry"]]
    assert ["PersonalizeThrottled"] in retried and ["PersonalizeResourceInUse"] in retried
    assert STATES[state]["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
