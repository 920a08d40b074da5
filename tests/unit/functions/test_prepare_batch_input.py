import json

import boto3
import pytest
from lambda_env import BUCKET, REGION, RUN_ID
from recflow_lambda.clients import s3_client
from recflow_lambda.errors import DataCheckFailed, InputNotFound
from recflow_lambda.handlers import prepare_batch_input

ETL_INPUT = f"transformed/{RUN_ID}/batch_input/"
REPORT = f"transformed/{RUN_ID}/report.json"
OUTPUT = f"batch_users_input/{RUN_ID}/"
USERS = '{"userId":"190"}\n{"userId":"75"}\n{"userId":"8"}\n'
ITEMS = '{"itemId":"110"}\n{"itemId":"3"}\n{"itemId":"32"}\n{"itemId":"7"}\n'


def put(key: str, text: str) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=text.encode())


def read(key: str) -> str:
    return boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


@pytest.fixture
def s3_requests(bucket) -> list[tuple[str, str]]:
    """(operation, key) of every S3 request the function's own client makes."""
    requests: list[tuple[str, str]] = []

    def record(params, model, **_):
        requests.append((model.name, params.get("Key") or params.get("Prefix", "")))

    s3_client().meta.events.register("provide-client-params.s3", record)
    return requests


@pytest.fixture
def etl_output(bucket):
    """What the ETL writes for the run besides the interactions (no interactions CSV at all here): the
    report, and the users and items batch inputs as Spark names its part files."""
    put(REPORT, json.dumps({"run_id": RUN_ID, "interactions": 5, "users": 3, "items": 4}))
    put(ETL_INPUT + "users/part-00000-5f0c2a1e-c000.json", USERS)
    put(ETL_INPUT + "items/part-00000-5f0c2a1e-c000.json", ITEMS)


def test_every_user_is_copied_from_the_etl_output_without_reading_it(
    etl_output, s3_requests, load_event, lambda_context
):
    # When prepare_batch_input runs with BATCH_USERS_KEY empty, and no interactions CSV exists
    result = prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    # Then the ETL's users file is copied unchanged, and the record count is the report's users
    assert result == {"s3_uri": f"s3://{BUCKET}/{OUTPUT}users.json", "records": 3, "kind": "userId"}
    assert read(OUTPUT + "users.json") == USERS
    # And the only object it read is the report: the users file was copied server-side
    assert s3_requests == [
        ("GetObject", REPORT),
        ("ListObjectsV2", ETL_INPUT + "users/"),
        ("CopyObject", OUTPUT + "users.json"),
    ]


@pytest.mark.parametrize("recipe", ["aws-similar-items", "aws-sims"])
def test_related_items_recipes_get_every_item_copied(etl_output, load_event, lambda_context, monkeypatch, recipe):
    monkeypatch.setenv("RECIPE_ARN", f"arn:aws:personalize:::recipe/{recipe}")

    result = prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    assert result == {"s3_uri": f"s3://{BUCKET}/{OUTPUT}items.json", "records": 4, "kind": "itemId"}
    assert read(OUTPUT + "items.json") == ITEMS


def test_a_run_whose_etl_wrote_no_batch_input_is_input_not_found(bucket, load_event, lambda_context):
    put(REPORT, json.dumps({"run_id": RUN_ID, "users": 3, "items": 4}))
    put(f"transformed/{RUN_ID}/interactions/part-00000.csv", "USER_ID,ITEM_ID,TIMESTAMP\n75,3,1162160236\n")

    with pytest.raises(InputNotFound) as raised:
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    assert str(raised.value) == (
        f"The ETL of run {RUN_ID} wrote no batch input under s3://{BUCKET}/{ETL_INPUT}users/; rerun the ETL "
        "(an ETL older than this function does not write it)."
    )


def test_a_run_without_a_report_is_input_not_found(bucket, load_event, lambda_context):
    put(ETL_INPUT + "users/part-00000.json", USERS)

    with pytest.raises(InputNotFound, match=f"The ETL report s3://{BUCKET}/{REPORT} does not exist"):
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)


def test_several_part_files_are_refused_rather_than_half_scored(etl_output, load_event, lambda_context):
    put(ETL_INPUT + "users/part-00001-5f0c2a1e-c000.json", '{"userId":"9"}\n')

    with pytest.raises(DataCheckFailed, match="wrote 2 batch input files under .*users/ instead of one"):
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)


@pytest.mark.parametrize("report", [{"run_id": RUN_ID, "users": 0, "items": 0}, {"run_id": RUN_ID, "items": 4}])
def test_a_report_without_users_to_score_fails_the_data_check(bucket, load_event, lambda_context, report):
    put(REPORT, json.dumps(report))
    put(ETL_INPUT + "users/part-00000.json", USERS)

    with pytest.raises(DataCheckFailed, match="has no users to score|has no valid users and items counts"):
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)


def test_a_user_provided_file_is_validated_and_copied_under_the_run(bucket, load_event, lambda_context, monkeypatch):
    # Given BATCH_USERS_KEY names an uploaded file of two users (and a trailing blank line)
    content = '{"userId": "75"}\n{"userId": "190"}\n\n'
    put("config/vip-users.json", content)
    monkeypatch.setenv("BATCH_USERS_KEY", "config/vip-users.json")

    # When prepare_batch_input runs
    result = prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    # Then the file is copied unchanged under the run, keeping its name
    assert result == {"s3_uri": f"s3://{BUCKET}/{OUTPUT}vip-users.json", "records": 2, "kind": "userId"}
    assert read(OUTPUT + "vip-users.json") == content


def test_before_the_etl_only_a_user_provided_file_is_put_in_place(
    bucket, s3_requests, load_event, lambda_context, monkeypatch
):
    # Given the run's first state (before_etl), when no BATCH_USERS_KEY is set, it does nothing and says so
    event = {**load_event("prepare_batch_input"), "before_etl": True}
    assert prepare_batch_input.handler(event, lambda_context) is None
    assert s3_requests == []
    # And with a BATCH_USERS_KEY file, it validates and copies it, so a bad one fails the run before the ETL
    put("config/vip-users.json", '{"userId": "75"}\n')
    monkeypatch.setenv("BATCH_USERS_KEY", "config/vip-users.json")
    result = prepare_batch_input.handler(event, lambda_context)
    assert result == {"s3_uri": f"s3://{BUCKET}/{OUTPUT}vip-users.json", "records": 1, "kind": "userId"}
    put("config/vip-users.json", '{"userId": "75"}\n75\n')
    with pytest.raises(DataCheckFailed, match="^Line 2 of s3://.*/config/vip-users.json is not a JSON object"):
        prepare_batch_input.handler(event, lambda_context)


def test_a_missing_user_provided_file_is_input_not_found(bucket, load_event, lambda_context, monkeypatch):
    monkeypatch.setenv("BATCH_USERS_KEY", "config/vip-users.json")

    with pytest.raises(InputNotFound) as raised:
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    assert str(raised.value) == (
        f"The batch input file s3://{BUCKET}/config/vip-users.json (BATCH_USERS_KEY) does not exist; "
        "upload it, or set BATCH_USERS_KEY to empty to score every user of the run."
    )


@pytest.mark.parametrize(
    "content",
    [
        '{"userId": "75"}\nnot json\n',
        '{"userId": "75"}\n{"itemId": "3"}\n',
        '{"userId": "75"}\n{"userId": 190}\n',
    ],
)
def test_a_user_provided_file_with_a_bad_line_fails_on_that_line(
    bucket, load_event, lambda_context, monkeypatch, content
):
    put("config/vip-users.json", content)
    monkeypatch.setenv("BATCH_USERS_KEY", "config/vip-users.json")

    with pytest.raises(DataCheckFailed, match="Line 2 of .*vip-users.json is not a JSON object with a string userId"):
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)


def test_an_empty_user_provided_file_fails(bucket, load_event, lambda_context, monkeypatch):
    put("config/vip-users.json", "\n\n")
    monkeypatch.setenv("BATCH_USERS_KEY", "config/vip-users.json")

    with pytest.raises(DataCheckFailed, match="vip-users.json has no records"):
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)
