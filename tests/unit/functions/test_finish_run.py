import json

import boto3
import pytest
from lambda_env import BUCKET, ENVIRONMENT, REGION, RUN_ID, SOLUTION_ARN, emitted_metrics
from recflow_lambda.errors import InputNotFound, InvalidEvent, PersonalizeThrottled
from recflow_lambda.handlers import finish_run

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
PREFIX = f"recommendations/{RUN_ID}/"
VERSION_ARN = f"{SOLUTION_ARN}/1a2b3c4d"
METRICS = {
    "coverage": 0.41,
    "mean_reciprocal_rank_at_25": 0.12,
    "normalized_discounted_cumulative_gain_at_5": 0.08,
    "normalized_discounted_cumulative_gain_at_10": 0.1,
    "normalized_discounted_cumulative_gain_at_25": 0.14,
    "precision_at_5": 0.05,
    "precision_at_10": 0.04,
    "precision_at_25": 0.03,
}


def s3():
    return boto3.client("s3", region_name=REGION)


def read_json(key: str) -> dict:
    return json.loads(s3().get_object(Bucket=BUCKET, Key=key)["Body"].read())


def keys() -> list[str]:
    return [item["Key"] for item in s3().list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.fixture
def batch_output(bucket):
    s3().put_object(
        Bucket=BUCKET,
        Key=PREFIX + "users.json.out",
        Body=b'{"input":{"userId":"75"},"output":{"recommendedItems":["3"],"scores":[0.9]},"error":null}\n',
    )


def test_a_finished_run_gets_a_manifest_a_latest_pointer_and_a_notification(
    batch_output, topic_messages, personalize_stubber, load_event, lambda_context, capsys
):
    # Given the batch output of the run is in place and the training has offline metrics
    personalize_stubber.add_response(
        "get_solution_metrics",
        {"solutionVersionArn": VERSION_ARN, "metrics": METRICS},
        {"solutionVersionArn": VERSION_ARN},
    )
    event = load_event("finish_run")

    # When finish_run runs
    manifest = finish_run.handler(event, lambda_context)

    # Then the manifest holds the counts, the metrics, the job ARNs and the output keys
    finished_at = manifest["finished_at"]
    assert manifest == {
        "run_id": RUN_ID,
        "finished_at": finished_at,
        "counts": event["data"],
        "metrics": METRICS,
        "recipe_arn": ENVIRONMENT["RECIPE_ARN"],
        "solution_arn": SOLUTION_ARN,
        "jobs": {"import": event["import"]["arn"], "train": VERSION_ARN, "batch": event["batch"]["arn"]},
        "batch_input": event["batch_input"],
        "output_prefix": PREFIX,
        "output_keys": [PREFIX + "users.json.out"],
        "campaign_arn": None,
    }
    assert finished_at.endswith("Z")
    # ...is written as _SUCCESS, and latest.json points at it
    assert read_json(PREFIX + "_SUCCESS") == manifest
    assert read_json("recommendations/latest.json") == {
        "run_id": RUN_ID,
        "prefix": PREFIX,
        "manifest": PREFIX + "_SUCCESS",
        "finished_at": finished_at,
        "campaign_arn": None,
    }
    # ...and the operators hear about it
    assert topic_messages() == [
        {
            "subject": f"recflow run {RUN_ID} succeeded",
            "message": f"recflow run {RUN_ID} succeeded: recommendations for 60 users are in "
            f"s3://{BUCKET}/{PREFIX} (manifest s3://{BUCKET}/{PREFIX}_SUCCESS).",
        }
    ]
    assert emitted_metrics(capsys.readouterr().out) == {"RunsSucceeded": 1.0}


CAMPAIGN_ARN = f"arn:aws:personalize:{REGION}:123456789012:campaign/recflow-5b1d0f70"


def test_the_campaign_serving_the_run_is_named_in_the_manifest_the_pointer_and_the_notification(
    batch_output, topic_messages, personalize_stubber, load_event, lambda_context
):
    # Given the run pointed the stack's campaign at its solution version
    personalize_stubber.add_response("get_solution_metrics", {"metrics": METRICS}, {"solutionVersionArn": VERSION_ARN})
    event = load_event("finish_run") | {
        "campaign": {"arn": CAMPAIGN_ARN, "status": "ACTIVE", "ready": True, "solution_version_arn": VERSION_ARN}
    }

    manifest = finish_run.handler(event, lambda_context)

    assert manifest["campaign_arn"] == CAMPAIGN_ARN
    assert read_json("recommendations/latest.json")["campaign_arn"] == CAMPAIGN_ARN
    assert topic_messages()[0]["message"].endswith(f" Campaign {CAMPAIGN_ARN} serves the run's solution version.")


def test_a_campaign_not_ready_fails_before_anything_is_published(bucket, load_event, lambda_context):
    event = load_event("finish_run") | {"campaign": {"arn": CAMPAIGN_ARN, "status": "UPDATE PENDING", "ready": False}}

    with pytest.raises(InvalidEvent, match="needs the campaign ready, but .* is UPDATE PENDING"):
        finish_run.handler(event, lambda_context)
    assert keys() == []


def test_a_rerun_of_finish_rewrites_the_same_manifest_without_listing_it(
    batch_output, topic_messages, personalize_stubber, load_event, lambda_context
):
    for _ in range(2):
        personalize_stubber.add_response(
            "get_solution_metrics", {"metrics": METRICS}, {"solutionVersionArn": VERSION_ARN}
        )

    finish_run.handler(load_event("finish_run"), lambda_context)
    again = finish_run.handler(load_event("finish_run"), lambda_context)

    assert again["output_keys"] == [PREFIX + "users.json.out"]
    assert read_json(PREFIX + "_SUCCESS") == again


def test_a_missing_batch_output_writes_nothing(bucket, topic_messages, personalize_stubber, load_event, lambda_context):
    # Given Personalize reported the batch job ACTIVE but its output is missing
    # When finish_run runs, Then it fails before any manifest, pointer or notification
    with pytest.raises(InputNotFound) as raised:
        finish_run.handler(load_event("finish_run"), lambda_context)

    assert str(raised.value) == (
        f"The batch inference output s3://{BUCKET}/{PREFIX}users.json.out does not exist although "
        f"job recflow-{RUN_ID}-batch is ACTIVE."
    )
    assert keys() == []
    assert topic_messages() == []


def test_a_run_with_an_unfinished_job_is_an_invalid_event(
    batch_output, topic_messages, personalize_stubber, load_event, lambda_context
):
    event = load_event("finish_run")
    event["training"]["status"] = "CREATE FAILED"

    with pytest.raises(InvalidEvent, match=f"the train job recflow-{RUN_ID}-train is CREATE FAILED"):
        finish_run.handler(event, lambda_context)

    assert keys() == [PREFIX + "users.json.out"]


def test_throttled_metrics_write_nothing(batch_output, topic_messages, personalize_stubber, load_event, lambda_context):
    personalize_stubber.add_client_error("get_solution_metrics", "ThrottlingException")

    with pytest.raises(PersonalizeThrottled):
        finish_run.handler(load_event("finish_run"), lambda_context)

    assert keys() == [PREFIX + "users.json.out"]
    assert topic_messages() == []


def test_an_event_without_the_training_job_is_invalid(bucket, load_event, lambda_context):
    event = load_event("finish_run")
    del event["training"]

    with pytest.raises(InvalidEvent, match=r"The finish_run event is invalid \(training: Field required\)"):
        finish_run.handler(event, lambda_context)
