"""Dataset import jobs: status on the simulated clock, CSV checks from S3, FULL and INCREMENTAL."""

import pytest

from recflow.personalize_local.errors import PersonalizeError

from .helpers import ACCOUNT, BUCKET, REGION, START, interactions_csv, put

FOLDER = "transformed/run-1/interactions/"
LOCATION = f"s3://{BUCKET}/{FOLDER}"


@pytest.fixture
def dataset(api) -> str:
    return api.dataset(api.dataset_group())


def test_import_goes_pending_in_progress_active_and_reads_every_csv_under_the_folder(api, s3, dataset):
    # Given two part files and a non-CSV marker under the import folder
    put(s3, FOLDER + "part-0.csv", interactions_csv(users=20, first_user=1))
    put(s3, FOLDER + "part-1.csv", interactions_csv(users=20, first_user=21))
    put(s3, FOLDER + "_SUCCESS", "")
    created = api.clock.now()

    # When an import job is created and described as simulated time passes
    arn = api.start_import(dataset, LOCATION)
    statuses = [api.import_status(arn)["status"]]
    api.advance(10)
    statuses.append(api.import_status(arn)["status"])
    api.advance(169)
    statuses.append(api.import_status(arn)["status"])
    api.advance(1)
    job = api.import_status(arn)

    # Then it moves CREATE PENDING → CREATE IN_PROGRESS → ACTIVE after job_seconds["import"]
    assert arn == f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-import-job/import-1"
    assert statuses == ["CREATE PENDING", "CREATE IN_PROGRESS", "CREATE IN_PROGRESS"]
    assert job == {
        "jobName": "import-1",
        "datasetImportJobArn": arn,
        "datasetArn": dataset,
        "dataSource": {"dataLocation": LOCATION},
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/recflow-personalize",
        "status": "ACTIVE",
        "importMode": "FULL",
        "creationDateTime": created,
        "lastUpdatedDateTime": created + 180,
    }
    # And both files' 1,600 records were imported
    [record] = api.backend.jobs()
    assert (record.records, record.job_seconds, record.started, record.completed) == (
        1600,
        180.0,
        created + 10,
        created + 180,
    )


def test_import_of_a_single_object(api, s3, dataset):
    put(s3, "exports/interactions.csv", interactions_csv())
    arn = api.start_import(dataset, f"s3://{BUCKET}/exports/interactions.csv")
    api.finish("import")
    assert api.import_status(arn)["status"] == "ACTIVE"
    assert api.backend.jobs()[0].records == 1200


def failed_import(api, s3, dataset, text: str | bytes) -> str:
    put(s3, FOLDER + "part-0.csv", text)
    arn = api.start_import(dataset, LOCATION)
    api.finish("import")
    job = api.import_status(arn)
    assert job["status"] == "CREATE FAILED"
    return job["failureReason"]


def test_millisecond_timestamps_fail_the_import(api, s3, dataset):
    text = interactions_csv(start=1_600_000_000_000)
    reason = failed_import(api, s3, dataset, text)
    assert reason == (
        f"s3://{BUCKET}/{FOLDER}part-0.csv line 2: TIMESTAMP 1600000000000 looks like milliseconds; "
        "Personalize needs Unix epoch time in seconds (divide by 1000). "
        "1200 rows of the file have this problem."
    )


def test_header_not_matching_the_schema_fails_the_import(api, s3, dataset):
    text = interactions_csv().replace("USER_ID,ITEM_ID,TIMESTAMP", "userID,movieID,timestamp", 1)
    reason = failed_import(api, s3, dataset, text)
    assert reason.startswith(f"The header of s3://{BUCKET}/{FOLDER}part-0.csv has column(s) userID, movieID, timestamp")


def test_empty_user_id_fails_the_import(api, s3, dataset):
    text = interactions_csv() + ",5,1600000000\n"
    assert failed_import(api, s3, dataset, text) == f"s3://{BUCKET}/{FOLDER}part-0.csv line 1202: USER_ID is empty."


def test_fewer_than_1000_records_fail_the_import(api, s3, dataset):
    reason = failed_import(api, s3, dataset, interactions_csv(users=24, per_user=41))
    assert reason == "The import has 984 records; a dataset import job needs at least 1000 records."


def test_non_utf8_file_fails_the_import(api, s3, dataset):
    reason = failed_import(api, s3, dataset, interactions_csv().encode() + b"1,caf\xe9,1600000000\n")
    assert reason.startswith(f"s3://{BUCKET}/{FOLDER}part-0.csv is not UTF-8 text")


def test_folder_without_csv_files_fails_the_import(api, s3, dataset):
    put(s3, FOLDER + "part-0.json", "{}")
    arn = api.start_import(dataset, LOCATION)
    api.finish("import")
    assert api.import_status(arn)["failureReason"] == f"There are no .csv files at {LOCATION}."


def test_missing_object_fails_the_import(api, dataset):
    arn = api.start_import(dataset, f"s3://{BUCKET}/nothing.csv")
    api.finish("import")
    assert (
        api.import_status(arn)["failureReason"]
        == f"Could not read s3://{BUCKET}/nothing.csv: the object does not exist."
    )


def test_missing_bucket_fails_the_import(api, dataset):
    arn = api.start_import(dataset, "s3://no-such-bucket/data/")
    api.finish("import")
    assert api.import_status(arn)["failureReason"] == (
        "Could not read s3://no-such-bucket/data/: the bucket does not exist."
    )


def test_import_work_happens_once_even_if_the_data_changes_later(api, s3, dataset):
    # Given an import observed ACTIVE
    put(s3, FOLDER + "part-0.csv", interactions_csv())
    arn = api.start_import(dataset, LOCATION)
    api.finish("import")
    first = api.import_status(arn)
    # When the file is broken afterwards and the job described again
    put(s3, FOLDER + "part-0.csv", "garbage\n")
    api.advance(60)
    second = api.import_status(arn)
    # Then the job keeps its result and its completion time
    assert first == second
    assert second["status"] == "ACTIVE"


def test_job_name_is_unique(api, s3, dataset):
    api.start_import(dataset, LOCATION)
    with pytest.raises(PersonalizeError) as caught:
        api.start_import(dataset, LOCATION)
    assert caught.value.code == "ResourceAlreadyExistsException"
    assert caught.value.message == (
        f"The dataset import job arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-import-job/import-1 already exists."
    )


def test_non_s3_location_is_invalid_input(api, dataset):
    with pytest.raises(PersonalizeError) as caught:
        api.start_import(dataset, "https://example.com/data.csv")
    assert caught.value.code == "InvalidInputException"
    assert caught.value.message.startswith("dataSource.dataLocation must be an s3:// location")


def test_import_needs_an_active_dataset(api, schema_arn):
    group = api.dataset_group()
    dataset = api.call(
        "CreateDataset", name="i", schemaArn=schema_arn, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    with pytest.raises(PersonalizeError) as caught:
        api.start_import(dataset, LOCATION)
    assert caught.value.code == "ResourceInUseException"


def training_rows(api, fake_recommender, group: str) -> list[tuple[str, str, int]]:
    """What a new solution version trains on (the fake recommender records it)."""
    solution = api.solution(group, name=f"s{len(fake_recommender.trained)}")
    version = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    api.finish("train")
    assert api.version_status(version)["status"] == "ACTIVE"
    model = fake_recommender.trained[-1]
    return list(zip(model.users.tolist(), model.items.tolist(), model.timestamps.tolist(), strict=True))


def test_full_import_replaces_and_incremental_import_appends(api, s3, fake_recommender):
    # Given a dataset with a FULL import of users 1-30
    group = api.dataset_group()
    dataset = api.dataset(group)
    put(s3, "a/part-0.csv", interactions_csv(users=30, first_user=1))
    put(s3, "b/part-0.csv", interactions_csv(users=30, first_user=101))
    put(s3, "c/part-0.csv", interactions_csv(users=30, first_user=201))
    api.start_import(dataset, f"s3://{BUCKET}/a/", name="full-a")
    api.finish("import")

    # When an INCREMENTAL import of users 101-130 follows
    api.start_import(dataset, f"s3://{BUCKET}/b/", name="incremental-b", mode="INCREMENTAL")
    api.finish("import")
    after_incremental = training_rows(api, fake_recommender, group)

    # Then training sees both
    assert len(after_incremental) == 2400
    assert {user for user, _, _ in after_incremental} == {str(u) for u in [*range(1, 31), *range(101, 131)]}

    # When a FULL import of users 201-230 follows
    api.start_import(dataset, f"s3://{BUCKET}/c/", name="full-c", mode="FULL")
    api.finish("import")
    after_full = training_rows(api, fake_recommender, group)

    # Then it replaced everything before it
    assert {user for user, _, _ in after_full} == {str(u) for u in range(201, 231)}
    assert len(after_full) == 1200


def test_incremental_import_of_the_same_events_keeps_them_once(api, s3, fake_recommender):
    group = api.dataset_group()
    dataset = api.dataset(group)
    put(s3, "a/part-0.csv", interactions_csv())
    api.start_import(dataset, f"s3://{BUCKET}/a/", name="first")
    api.finish("import")
    api.start_import(dataset, f"s3://{BUCKET}/a/", name="again", mode="INCREMENTAL")
    api.finish("import")
    assert len(training_rows(api, fake_recommender, group)) == 1200


def test_overlapping_imports_land_in_creation_order_whichever_is_observed_first(api, s3, fake_recommender):
    # Given a FULL import and, a minute later, an INCREMENTAL one on the same dataset
    group = api.dataset_group()
    dataset = api.dataset(group)
    put(s3, "a/part-0.csv", interactions_csv(users=30, first_user=1))
    put(s3, "b/part-0.csv", interactions_csv(users=30, first_user=101))
    first = api.start_import(dataset, f"s3://{BUCKET}/a/", name="full")
    api.advance(60)
    second = api.start_import(dataset, f"s3://{BUCKET}/b/", name="incremental", mode="INCREMENTAL")

    # When both are due and the later one is observed first
    api.finish("import")
    assert api.import_status(second)["status"] == "ACTIVE"
    assert api.import_status(first)["status"] == "ACTIVE"

    # Then the dataset holds both, as if they had finished in order
    assert len(training_rows(api, fake_recommender, group)) == 2400


def test_list_import_jobs_filters_by_dataset(api, s3, dataset):
    put(s3, FOLDER + "part-0.csv", interactions_csv())
    api.start_import(dataset, LOCATION, name="one")
    api.advance(1)
    api.start_import(dataset, LOCATION, name="two")
    api.finish("import")
    jobs = api.call("ListDatasetImportJobs", datasetArn=dataset)["datasetImportJobs"]
    assert [(job["jobName"], job["status"]) for job in jobs] == [("two", "ACTIVE"), ("one", "ACTIVE")]
    assert jobs[1]["creationDateTime"] == START + 10  # after the group's and the dataset's 5 s each
    other = dataset.replace("dataset/recflow", "dataset/other")
    assert api.call("ListDatasetImportJobs", datasetArn=other)["datasetImportJobs"] == []
