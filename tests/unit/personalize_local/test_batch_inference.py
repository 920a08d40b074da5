"""Batch inference jobs: reading the JSON lines input, writing `<input name>.out` next to the output path."""

import json

import pytest

from recflow.personalize_local.errors import PersonalizeError

from .helpers import ACCOUNT, BUCKET, REGION, ROLE, put, read

INPUT_KEY = "batch_users_input/run-1/users.json"
INPUT = f"s3://{BUCKET}/{INPUT_KEY}"
OUTPUT = f"s3://{BUCKET}/recommendations/run-1/"


def start_batch(api, version: str, name: str = "run-1-batch", **extra) -> str:
    return api.call(
        "CreateBatchInferenceJob",
        jobName=name,
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": extra.pop("input", INPUT)}},
        jobOutput={"s3DataDestination": {"path": extra.pop("output", OUTPUT)}},
        roleArn=ROLE,
        **extra,
    )["batchInferenceJobArn"]


def test_batch_job_writes_the_input_name_dot_out_under_the_output_path(api, s3, fake_recommender):
    # Given a trained version and a JSON lines input with a blank line
    version = api.trained_version(s3)
    put(s3, INPUT_KEY, '{"userId": "1"}\n\n{"userId": "2"}\n')

    # When a batch job runs with the default numResults
    arn = start_batch(api, version)
    before = api.batch_status(arn)
    api.finish("batch")
    job = api.batch_status(arn)

    # Then it was pending, then ACTIVE, and described like the real API
    assert arn == f"arn:aws:personalize:{REGION}:{ACCOUNT}:batch-inference-job/run-1-batch"
    assert before["status"] == "CREATE PENDING"
    assert job["status"] == "ACTIVE"
    assert job["numResults"] == 25
    assert job["jobInput"] == {"s3DataSource": {"path": INPUT}}
    assert job["jobOutput"] == {"s3DataDestination": {"path": OUTPUT}}
    assert job["solutionVersionArn"] == version
    # And the recommender got the input lines (blank ones left out), the version's model and 25
    [(model, lines, num_results)] = fake_recommender.batch_calls
    assert model is fake_recommender.trained[0]
    assert lines == ['{"userId": "1"}', '{"userId": "2"}']
    assert num_results == 25
    # And its lines were written to recommendations/run-1/users.json.out, one per input line
    output = read(s3, "recommendations/run-1/users.json.out").splitlines()
    assert [json.loads(line)["input"] for line in output] == [{"userId": "1"}, {"userId": "2"}]
    assert api.backend.jobs()[-1].records == 2


def test_batch_job_passes_num_results_and_adds_the_missing_slash(api, s3, fake_recommender):
    version = api.trained_version(s3)
    put(s3, INPUT_KEY, '{"userId": "1"}\n')
    arn = start_batch(api, version, numResults=10, output=f"s3://{BUCKET}/recommendations/run-2")
    api.finish("batch")
    assert api.batch_status(arn)["status"] == "ACTIVE"
    assert fake_recommender.batch_calls[0][2] == 10
    assert read(s3, "recommendations/run-2/users.json.out").count("\n") == 1


def test_missing_input_fails_the_batch_job(api, s3, fake_recommender):
    version = api.trained_version(s3)
    arn = start_batch(api, version)
    api.finish("batch")
    job = api.batch_status(arn)
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"] == f"Could not read {INPUT}: the object does not exist."


def test_batch_job_needs_an_active_solution_version(api, s3, fake_recommender):
    group, _ = api.imported_dataset(s3)
    version = api.call("CreateSolutionVersion", solutionArn=api.solution(group))["solutionVersionArn"]
    with pytest.raises(PersonalizeError) as caught:
        start_batch(api, version)
    assert caught.value.code == "ResourceInUseException"
    assert caught.value.message == f"The solution version {version} is CREATE PENDING; it must be ACTIVE."


@pytest.mark.parametrize("num_results", [0, 501])
def test_num_results_out_of_range_is_invalid_input(api, s3, fake_recommender, num_results):
    version = api.trained_version(s3)
    with pytest.raises(PersonalizeError) as caught:
        start_batch(api, version, numResults=num_results)
    assert caught.value.code == "InvalidInputException"
    assert caught.value.message == f"numResults must be between 1 and 500, not {num_results}."


def test_batch_job_name_is_unique_and_listing_filters_by_version(api, s3, fake_recommender):
    version = api.trained_version(s3)
    put(s3, INPUT_KEY, '{"userId": "1"}\n')
    arn = start_batch(api, version)
    with pytest.raises(PersonalizeError) as caught:
        start_batch(api, version)
    assert caught.value.code == "ResourceAlreadyExistsException"
    api.finish("batch")
    listed = api.call("ListBatchInferenceJobs", solutionVersionArn=version)["batchInferenceJobs"]
    assert [(job["batchInferenceJobArn"], job["status"]) for job in listed] == [(arn, "ACTIVE")]
    assert api.call("ListBatchInferenceJobs", solutionVersionArn=version + "0")["batchInferenceJobs"] == []


def test_filters_are_not_found(api, s3, fake_recommender):
    version = api.trained_version(s3)
    filter_arn = f"arn:aws:personalize:{REGION}:{ACCOUNT}:filter/unwatched"
    with pytest.raises(PersonalizeError) as caught:
        start_batch(api, version, filterArn=filter_arn)
    assert caught.value.code == "ResourceNotFoundException"


def test_input_folder_gets_one_output_file_per_input_file(api, s3, fake_recommender):
    # Given an input folder with two JSON lines files
    version = api.trained_version(s3)
    put(s3, "batch_users_input/run-3/a.json", '{"userId": "1"}\n')
    put(s3, "batch_users_input/run-3/b.json", '{"userId": "2"}\n{"userId": "3"}\n')

    # When a batch job reads the folder
    arn = start_batch(api, version, input=f"s3://{BUCKET}/batch_users_input/run-3/")
    api.finish("batch")

    # Then each file has its .out next to the others, and every record is counted
    assert api.batch_status(arn)["status"] == "ACTIVE"
    assert read(s3, "recommendations/run-1/a.json.out").count("\n") == 1
    assert read(s3, "recommendations/run-1/b.json.out").count("\n") == 2
    assert api.backend.jobs()[-1].records == 3


def test_batch_job_with_the_real_recommender(api, s3):
    # Given a version trained by the real recommender and three users, one unknown
    version = api.trained_version(s3)
    put(s3, INPUT_KEY, '{"userId": "1"}\n{"userId": "2"}\n{"userId": "no-such-user"}\n')

    # When a batch job asks for 5 recommendations each
    arn = start_batch(api, version, numResults=5)
    api.finish("batch")

    # Then users.json.out has one Personalize-format line per input line, in order
    assert api.batch_status(arn)["status"] == "ACTIVE"
    lines = [json.loads(line) for line in read(s3, "recommendations/run-1/users.json.out").splitlines()]
    assert [line["input"] for line in lines] == [{"userId": "1"}, {"userId": "2"}, {"userId": "no-such-user"}]
    for line in lines[:2]:
        assert line["error"] is None
        assert len(line["output"]["recommendedItems"]) == 5
        assert len(line["output"]["scores"]) == 5
