"""The pipeline's copies under batch_users_input/<run-id>/ carry the tag the bucket's lifecycle rule expires;
the user's own BATCH_USERS_KEY file, under the same prefix, is left as it is."""

import json

import boto3
from lambda_env import BUCKET, REGION, RUN_ID
from recflow_lambda.batch_input import RUN_COPY_TAG
from recflow_lambda.handlers import prepare_batch_input

USERS = '{"userId":"190"}\n{"userId":"75"}\n'


def s3():
    return boto3.client("s3", region_name=REGION)


def tags(key: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in s3().get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def test_the_copy_of_the_etls_user_list_is_tagged_for_expiry(bucket, load_event, lambda_context):
    # Given the ETL's report and list of every user of the run
    s3().put_object(Bucket=BUCKET, Key=f"transformed/{RUN_ID}/report.json", Body=json.dumps({"users": 2, "items": 9}))
    s3().put_object(Bucket=BUCKET, Key=f"transformed/{RUN_ID}/batch_input/users/part-00000-c000.json", Body=USERS)

    # When prepare_batch_input copies it
    prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    # Then the copy carries the retention tag
    assert tags(f"batch_users_input/{RUN_ID}/users.json") == {"recflow-retention": "run-output"} == RUN_COPY_TAG


def test_a_users_own_file_is_copied_with_the_tag_while_the_file_keeps_only_its_own_tags(
    bucket, load_event, lambda_context, monkeypatch
):
    # Given the user's file under batch_users_input/, with a tag of its own
    own = "batch_users_input/vip-users.json"
    s3().put_object(Bucket=BUCKET, Key=own, Body=USERS, Tagging="owner=marketing")
    monkeypatch.setenv("BATCH_USERS_KEY", own)

    # When prepare_batch_input copies it under the run
    prepare_batch_input.handler(load_event("prepare_batch_input"), lambda_context)

    # Then only the copy is tagged for expiry: the user's file is never matched by the lifecycle rule
    assert tags(f"batch_users_input/{RUN_ID}/vip-users.json") == {"recflow-retention": "run-output"}
    assert tags(own) == {"owner": "marketing"}
