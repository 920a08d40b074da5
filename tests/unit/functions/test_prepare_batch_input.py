import boto3
import pytest
from lambda_env import BUCKET, REGION, RUN_ID
from recflow_lambda.errors import DataCheckFailed, InputNotFound
from recflow_lambda.handlers import prepare_batch_input

INTERACTIONS = f"transformed/{RUN_ID}/interactions/"
OUTPUT = f"batch_users_input/{RUN_ID}/"


def put(key: str, text: str) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=text.encode())


def read(key: str) -> str:
    return boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


@pytest.fixture
def interactions(bucket):
    """Two CSV parts sharing user 75 and item 3, plus the marker file Spark writes."""
    put(
        INTERACTIONS + "part-00000.csv",
        "USER_ID,ITEM_ID,TIMESTAMP\n75,3,1162160236\n75,32,1162160624\n8,3,1162160300\n",
    )
    put(
        INTERACTIONS + "part-00001.csv",
        "USER_ID,ITEM_ID,TIMESTAMP\r\n190,3,1162160236\r\n75,110,1162160700\r\n",
    )
    put(INTERACTIONS + "_SUCCESS", "")


def test_every_distinct_user_of_the_run_is_written_as_json_lines(interactions, load_event, lambda_context):
    # When prepare_batch_input runs with BATCH_USERS_KEY empty
    result = prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    # Then every distinct USER_ID of every part is one {"userId": ...} line
    assert result == {"s3_uri": f"s3://{BUCKET}/{OUTPUT}users.json", "records": 3, "kind": "userId"}
    assert read(OUTPUT + "users.json") == '{"userId": "190"}\n{"userId": "75"}\n{"userId": "8"}\n'


@pytest.mark.parametrize("recipe", ["aws-similar-items", "aws-sims"])
def test_related_items_recipes_get_every_distinct_item(interactions, load_event, lambda_context, monkeypatch, recipe):
    monkeypatch.setenv("RECIPE_ARN", f"arn:aws:personalize:::recipe/{recipe}")

    result = prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    assert result == {"s3_uri": f"s3://{BUCKET}/{OUTPUT}users.json", "records": 3, "kind": "itemId"}
    assert read(OUTPUT + "users.json") == '{"itemId": "110"}\n{"itemId": "3"}\n{"itemId": "32"}\n'


def test_a_run_without_interactions_csv_is_input_not_found(bucket, load_event, lambda_context):
    put(INTERACTIONS + "_SUCCESS", "")

    with pytest.raises(InputNotFound, match=f"No interactions CSV exists under s3://{BUCKET}/{INTERACTIONS}"):
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)


def test_a_csv_without_the_id_column_fails(bucket, load_event, lambda_context):
    put(INTERACTIONS + "part-00000.csv", "USER,ITEM_ID,TIMESTAMP\n75,3,1162160236\n")

    with pytest.raises(DataCheckFailed, match="part-00000.csv has no USER_ID column in its header"):
        prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)


def test_a_row_without_a_user_is_reported_not_dropped(bucket, load_event, lambda_context):
    put(INTERACTIONS + "part-00000.csv", "USER_ID,ITEM_ID,TIMESTAMP\n75,3,1162160236\n,4,1162160236\n")

    with pytest.raises(DataCheckFailed, match="Line 3 of .*part-00000.csv has an empty USER_ID"):
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
