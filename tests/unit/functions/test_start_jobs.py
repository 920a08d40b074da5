"""start_import, start_training and start_batch: describe-or-create under deterministic names."""

from datetime import UTC, datetime

import pytest
from lambda_env import BUCKET, ENVIRONMENT, RUN_ID, SOLUTION_ARN
from recflow_lambda.errors import (
    ConfigurationError,
    InvalidEvent,
    PersonalizeRequestFailed,
    PersonalizeThrottled,
)
from recflow_lambda.handlers import start_batch, start_import, start_training

ACCOUNT_PREFIX = "arn:aws:personalize:us-east-1:123456789012"
IMPORT_NAME = f"recflow-{RUN_ID}-import"
IMPORT_ARN = f"{ACCOUNT_PREFIX}:dataset-import-job/{IMPORT_NAME}"
TRAIN_NAME = f"recflow-{RUN_ID}-train"
VERSION_ARN = f"{SOLUTION_ARN}/1a2b3c4d"
BATCH_NAME = f"recflow-{RUN_ID}-batch"
BATCH_ARN = f"{ACCOUNT_PREFIX}:batch-inference-job/{BATCH_NAME}"
INPUT_URI = f"s3://{BUCKET}/batch_users_input/{RUN_ID}/users.json"
IMPORTED_AT = datetime(2024, 5, 1, 6, 10, tzinfo=UTC)
# Each start reads its phase's history from the (moto) bucket; here there is none yet.
pytestmark = pytest.mark.usefixtures("bucket")


def job_state(phase: str, name: str, arn: str, status: str = "CREATE PENDING") -> dict:
    return {
        "phase": phase,
        "name": name,
        "arn": arn,
        "status": status,
        "polls": 0,
        "waited_seconds": 0,
        "wait_seconds": 0,
        "running_seconds": 0,
        "expected": None,
    }


def import_description(status: str) -> dict:
    return {
        "datasetImportJob": {
            "jobName": IMPORT_NAME,
            "datasetImportJobArn": IMPORT_ARN,
            "status": status,
            "creationDateTime": IMPORTED_AT,
        }
    }


def version_description(arn: str, name: str, status: str = "CREATE IN_PROGRESS") -> dict:
    return {
        "solutionVersion": {
            "name": name,
            "solutionVersionArn": arn,
            "solutionArn": SOLUTION_ARN,
            "status": status,
        }
    }


def version_summary(arn: str, created: datetime) -> dict:
    return {"solutionVersionArn": arn, "status": "ACTIVE", "creationDateTime": created}


# --- start_import -------------------------------------------------------------------------------------
CREATE_IMPORT = {
    "jobName": IMPORT_NAME,
    "datasetArn": ENVIRONMENT["INTERACTIONS_DATASET_ARN"],
    "dataSource": {"dataLocation": f"s3://{BUCKET}/transformed/{RUN_ID}/interactions/"},
    "roleArn": ENVIRONMENT["PERSONALIZE_ROLE_ARN"],
    "importMode": "FULL",
}


def test_start_import_creates_a_full_import_of_the_run(personalize_stubber, load_event, lambda_context):
    # Given no import job of the run exists yet
    personalize_stubber.add_client_error(
        "describe_dataset_import_job",
        "ResourceNotFoundException",
        expected_params={"datasetImportJobArn": IMPORT_ARN},
    )
    personalize_stubber.add_response(
        "create_dataset_import_job", {"datasetImportJobArn": IMPORT_ARN}, expected_params=CREATE_IMPORT
    )

    # When start_import runs
    result = start_import.handler(load_event("start_import"), lambda_context)

    # Then a FULL import of transformed/<run-id>/interactions/ is created under the deterministic name
    assert result == job_state("import", IMPORT_NAME, IMPORT_ARN)


def test_start_import_returns_the_existing_job_of_the_run(personalize_stubber, load_event, lambda_context):
    # Given a retried start: the job exists and is importing (no create call is queued)
    personalize_stubber.add_response(
        "describe_dataset_import_job",
        import_description("CREATE IN_PROGRESS"),
        expected_params={"datasetImportJobArn": IMPORT_ARN},
    )

    result = start_import.handler(load_event("start_import"), lambda_context)

    assert result == job_state("import", IMPORT_NAME, IMPORT_ARN, "CREATE IN_PROGRESS")


def test_start_import_describes_the_job_a_concurrent_attempt_created(personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_client_error("describe_dataset_import_job", "ResourceNotFoundException")
    personalize_stubber.add_client_error(
        "create_dataset_import_job", "ResourceAlreadyExistsException", expected_params=CREATE_IMPORT
    )
    personalize_stubber.add_response(
        "describe_dataset_import_job",
        import_description("CREATE PENDING"),
        {"datasetImportJobArn": IMPORT_ARN},
    )

    result = start_import.handler(load_event("start_import"), lambda_context)

    assert result == job_state("import", IMPORT_NAME, IMPORT_ARN, "CREATE PENDING")


@pytest.mark.parametrize("code", ["LimitExceededException", "ThrottlingException"])
def test_start_import_over_the_quota_is_personalize_throttled(personalize_stubber, load_event, lambda_context, code):
    personalize_stubber.add_client_error("describe_dataset_import_job", "ResourceNotFoundException")
    personalize_stubber.add_client_error("create_dataset_import_job", code, "5 import jobs are running")

    with pytest.raises(PersonalizeThrottled) as raised:
        start_import.handler(load_event("start_import"), lambda_context)

    assert str(raised.value) == (
        f"Personalize CreateDatasetImportJob was refused with {code} (5 import jobs are running); "
        "retry once running jobs finish."
    )


def test_start_import_refused_by_personalize_fails_with_the_reason(personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_client_error("describe_dataset_import_job", "ResourceNotFoundException")
    personalize_stubber.add_client_error(
        "create_dataset_import_job", "InvalidInputException", "The role cannot read the bucket."
    )

    with pytest.raises(PersonalizeRequestFailed) as raised:
        start_import.handler(load_event("start_import"), lambda_context)

    assert type(raised.value).__name__ == "PersonalizeRequestFailed"
    assert str(raised.value) == (
        "Personalize CreateDatasetImportJob failed with InvalidInputException: The role cannot read the bucket."
    )


def test_start_import_refuses_a_run_id_too_long_for_a_job_name(personalize_stubber, lambda_context):
    with pytest.raises(InvalidEvent, match="run_id: String should have at most 39 characters"):
        start_import.handler({"run_id": "r" * 40}, lambda_context)


# --- start_training -----------------------------------------------------------------------------------
LIST_VERSIONS = {"solutionArn": SOLUTION_ARN, "maxResults": 100}
CREATE_VERSION = {"name": TRAIN_NAME, "solutionArn": SOLUTION_ARN, "trainingMode": "FULL"}


def test_start_training_creates_a_full_training_when_the_run_has_none(personalize_stubber, load_event, lambda_context):
    # Given the solution has an older version and a newer one of another run
    older, other = f"{SOLUTION_ARN}/00000001", f"{SOLUTION_ARN}/00000002"
    personalize_stubber.add_response(
        "describe_dataset_import_job", import_description("ACTIVE"), {"datasetImportJobArn": IMPORT_ARN}
    )
    personalize_stubber.add_response(
        "list_solution_versions",
        {
            "solutionVersions": [
                version_summary(other, datetime(2024, 5, 1, 7, tzinfo=UTC)),
                version_summary(older, datetime(2024, 4, 1, tzinfo=UTC)),
            ]
        },
        LIST_VERSIONS,
    )
    # Only the version created after the run's import is described: the older one cannot be the run's.
    personalize_stubber.add_response(
        "describe_solution_version",
        version_description(other, "recflow-other-run-train"),
        {"solutionVersionArn": other},
    )
    personalize_stubber.add_response("create_solution_version", {"solutionVersionArn": VERSION_ARN}, CREATE_VERSION)

    # When start_training runs
    result = start_training.handler(load_event("start_training"), lambda_context)

    # Then a FULL training named after the run is created
    assert result == job_state("train", TRAIN_NAME, VERSION_ARN)


def test_start_training_finds_the_run_version_by_name_across_pages(personalize_stubber, load_event, lambda_context):
    # Given a retried start: the run's version is on the second page of the list
    other = f"{SOLUTION_ARN}/00000002"
    personalize_stubber.add_client_error("describe_dataset_import_job", "ResourceNotFoundException")
    personalize_stubber.add_response(
        "list_solution_versions",
        {"solutionVersions": [version_summary(other, IMPORTED_AT)], "nextToken": "page-2"},
        LIST_VERSIONS,
    )
    personalize_stubber.add_response(
        "describe_solution_version",
        version_description(other, "recflow-other-run-train"),
        {"solutionVersionArn": other},
    )
    personalize_stubber.add_response(
        "list_solution_versions",
        {"solutionVersions": [version_summary(VERSION_ARN, IMPORTED_AT)]},
        {"solutionArn": SOLUTION_ARN, "maxResults": 100, "nextToken": "page-2"},
    )
    personalize_stubber.add_response(
        "describe_solution_version",
        version_description(VERSION_ARN, TRAIN_NAME),
        {"solutionVersionArn": VERSION_ARN},
    )

    # When start_training runs again (no create call is queued)
    result = start_training.handler(load_event("start_training"), lambda_context)

    # Then it returns the existing training
    assert result == job_state("train", TRAIN_NAME, VERSION_ARN, "CREATE IN_PROGRESS")


def test_start_training_finds_the_version_a_concurrent_attempt_created(personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_response(
        "describe_dataset_import_job", import_description("ACTIVE"), {"datasetImportJobArn": IMPORT_ARN}
    )
    personalize_stubber.add_response("list_solution_versions", {"solutionVersions": []}, LIST_VERSIONS)
    personalize_stubber.add_client_error(
        "create_solution_version", "ResourceAlreadyExistsException", expected_params=CREATE_VERSION
    )
    personalize_stubber.add_response(
        "list_solution_versions",
        {"solutionVersions": [version_summary(VERSION_ARN, IMPORTED_AT)]},
        LIST_VERSIONS,
    )
    personalize_stubber.add_response(
        "describe_solution_version",
        version_description(VERSION_ARN, TRAIN_NAME),
        {"solutionVersionArn": VERSION_ARN},
    )

    result = start_training.handler(load_event("start_training"), lambda_context)

    assert result["arn"] == VERSION_ARN


def test_start_training_over_the_quota_is_personalize_throttled(personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_response(
        "describe_dataset_import_job", import_description("ACTIVE"), {"datasetImportJobArn": IMPORT_ARN}
    )
    personalize_stubber.add_response("list_solution_versions", {"solutionVersions": []}, LIST_VERSIONS)
    personalize_stubber.add_client_error(
        "create_solution_version", "LimitExceededException", expected_params=CREATE_VERSION
    )

    with pytest.raises(PersonalizeThrottled, match="CreateSolutionVersion was refused with LimitExceededException"):
        start_training.handler(load_event("start_training"), lambda_context)


def test_start_training_needs_the_solution_arn(personalize_stubber, load_event, lambda_context, monkeypatch):
    monkeypatch.delenv("SOLUTION_ARN")

    with pytest.raises(ConfigurationError, match="SOLUTION_ARN"):
        start_training.handler(load_event("start_training"), lambda_context)


# --- start_batch --------------------------------------------------------------------------------------
def create_batch(num_results: int = 25) -> dict:
    return {
        "jobName": BATCH_NAME,
        "solutionVersionArn": VERSION_ARN,
        "numResults": num_results,
        "jobInput": {"s3DataSource": {"path": INPUT_URI}},
        "jobOutput": {"s3DataDestination": {"path": f"s3://{BUCKET}/recommendations/{RUN_ID}/"}},
        "roleArn": ENVIRONMENT["PERSONALIZE_ROLE_ARN"],
    }


def batch_event(load_event) -> dict:
    return load_event("start_batch") | {"solution_version_arn": VERSION_ARN}


@pytest.mark.parametrize("num_results", [25, 100])
def test_start_batch_creates_the_batch_inference_job_of_the_run(
    personalize_stubber, load_event, lambda_context, monkeypatch, num_results
):
    # Given NUM_RESULTS and no batch job of the run yet
    monkeypatch.setenv("NUM_RESULTS", str(num_results))
    personalize_stubber.add_client_error(
        "describe_batch_inference_job",
        "ResourceNotFoundException",
        expected_params={"batchInferenceJobArn": BATCH_ARN},
    )
    personalize_stubber.add_response(
        "create_batch_inference_job", {"batchInferenceJobArn": BATCH_ARN}, create_batch(num_results)
    )

    # When start_batch runs
    result = start_batch.handler(batch_event(load_event), lambda_context)

    # Then the job reads the run's input and writes to recommendations/<run-id>/
    assert result == job_state("batch", BATCH_NAME, BATCH_ARN)


def test_start_batch_returns_the_existing_job_of_the_run(personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_response(
        "describe_batch_inference_job",
        {
            "batchInferenceJob": {
                "jobName": BATCH_NAME,
                "batchInferenceJobArn": BATCH_ARN,
                "status": "IN PROGRESS",
            }
        },
        {"batchInferenceJobArn": BATCH_ARN},
    )

    result = start_batch.handler(batch_event(load_event), lambda_context)

    assert result == job_state("batch", BATCH_NAME, BATCH_ARN, "IN PROGRESS")


def test_start_batch_describes_the_job_a_concurrent_attempt_created(personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_client_error("describe_batch_inference_job", "ResourceNotFoundException")
    personalize_stubber.add_client_error("create_batch_inference_job", "ResourceAlreadyExistsException")
    personalize_stubber.add_response(
        "describe_batch_inference_job",
        {"batchInferenceJob": {"batchInferenceJobArn": BATCH_ARN, "status": "CREATE PENDING"}},
        {"batchInferenceJobArn": BATCH_ARN},
    )

    assert start_batch.handler(batch_event(load_event), lambda_context)["status"] == "CREATE PENDING"


def test_start_batch_needs_an_s3_input_uri(personalize_stubber, load_event, lambda_context):
    event = batch_event(load_event) | {"input_uri": "batch_users_input/users.json"}

    with pytest.raises(InvalidEvent, match="input_uri: String should match pattern"):
        start_batch.handler(event, lambda_context)


FILTER_ARN = "arn:aws:personalize:us-east-1:123456789012:filter/recflow-5b1d0f70-exclude-seen"


@pytest.mark.parametrize(
    ("recipe", "filtered"),
    [("aws-user-personalization-v2", True), ("aws-popularity-count", True), ("aws-sims", False)],
)
def test_start_batch_applies_the_exclude_seen_filter_to_user_recipes_only(
    personalize_stubber, load_event, lambda_context, monkeypatch, recipe, filtered
):
    # Given the stack's filter (ExcludeSeenItems) and a recipe whose batch lines carry a userId, or an itemId
    monkeypatch.setenv("FILTER_ARN", FILTER_ARN)
    monkeypatch.setenv("RECIPE_ARN", f"arn:aws:personalize:::recipe/{recipe}")
    personalize_stubber.add_client_error("describe_batch_inference_job", "ResourceNotFoundException")
    # Then the job gets filterArn for users; for items there is no user whose interactions it could exclude
    expected = create_batch() | ({"filterArn": FILTER_ARN} if filtered else {})
    personalize_stubber.add_response("create_batch_inference_job", {"batchInferenceJobArn": BATCH_ARN}, expected)

    # When start_batch runs
    assert start_batch.handler(batch_event(load_event), lambda_context)["arn"] == BATCH_ARN


def test_start_batch_without_the_filter_passes_no_filter_arn(
    personalize_stubber, load_event, lambda_context, monkeypatch
):
    # Given ExcludeSeenItems=false: the template sets FILTER_ARN to ""
    monkeypatch.setenv("FILTER_ARN", "")
    personalize_stubber.add_client_error("describe_batch_inference_job", "ResourceNotFoundException")
    personalize_stubber.add_response("create_batch_inference_job", {"batchInferenceJobArn": BATCH_ARN}, create_batch())

    assert start_batch.handler(batch_event(load_event), lambda_context)["arn"] == BATCH_ARN
