import json
from dataclasses import replace

import boto3
import pytest
from lambda_env import BUCKET, ENVIRONMENT, REGION, RUN_ID, STATE_MACHINE_NAME, emitted_metrics
from recflow_lambda.errors import InvalidEvent
from recflow_lambda.handlers import start_run

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


@pytest.fixture
def stepfunctions(aws):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)  # holds state/run-lock.json
    client = boto3.client("stepfunctions", region_name=REGION)
    arn = client.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=json.dumps(DEFINITION),
        roleArn="arn:aws:iam::123456789012:role/recflow-pipeline",
    )["stateMachineArn"]
    assert arn == ENVIRONMENT["STATE_MACHINE_ARN"]
    return client


def executions(client) -> list[dict]:
    return client.list_executions(stateMachineArn=ENVIRONMENT["STATE_MACHINE_ARN"])["executions"]


def test_an_upload_under_raw_starts_one_execution_named_after_the_run(stepfunctions, load_event, lambda_context):
    # Given an Object Created event for raw/ratings-2024-05.dat
    event = load_event("start_run")

    # When start_run handles it
    result = start_run.handler(event, lambda_context)

    # Then one execution named after the run id runs with the run id and the trigger as input
    assert result == {
        "run_id": RUN_ID,
        "execution_arn": f"arn:aws:states:{REGION}:123456789012:execution:{STATE_MACHINE_NAME}:{RUN_ID}",
        "started": True,
        "reason": None,
        "queued": False,
    }
    execution = stepfunctions.describe_execution(executionArn=result["execution_arn"])
    assert execution["name"] == RUN_ID
    assert json.loads(execution["input"]) == {
        "run_id": RUN_ID,
        "trigger": {
            "type": "upload",
            "time": "2024-05-01T06:00:00+00:00",
            "bucket": BUCKET,
            "key": "raw/ratings-2024-05.dat",
            "etag": "d8e8fca2dc0f896fd7cb4cb0031ba249",
            "sequencer": "00663209F0B3F2A5C1",
            "request_id": lambda_context.aws_request_id,
        },
    }


def test_a_duplicate_delivery_does_not_start_a_second_execution(stepfunctions, load_event, lambda_context, capsys):
    # Given the upload event was already handled once
    first = start_run.handler(load_event("start_run"), lambda_context)
    capsys.readouterr()

    # When EventBridge delivers it again (another Lambda request)
    redelivery = replace(lambda_context, aws_request_id="9f8e7d6c-0000-4000-8000-000000000002")
    second = start_run.handler(load_event("start_run"), redelivery)

    # Then nothing new starts or waits, and the answer points at the first execution
    assert second == {
        "run_id": None,
        "execution_arn": first["execution_arn"],
        "started": False,
        "queued": False,
        "reason": f"trigger {RUN_ID} is already covered by the run in flight or waits for it (duplicate delivery)",
    }
    assert [execution["name"] for execution in executions(stepfunctions)] == [RUN_ID]
    assert emitted_metrics(capsys.readouterr().out) == {"TriggersSkipped": 1.0}


def test_a_retry_of_the_request_that_started_the_run_starts_nothing_more(stepfunctions, load_event, lambda_context):
    # Given the invocation started the run but its answer was lost
    first = start_run.handler(load_event("start_run"), lambda_context)

    # When Lambda retries the same request
    retry = start_run.handler(load_event("start_run"), lambda_context)

    # Then the run in flight already covers the upload: nothing new starts or waits
    assert retry["started"] is False and retry["queued"] is False
    assert retry["execution_arn"] == first["execution_arn"]
    assert len(executions(stepfunctions)) == 1


def test_a_new_upload_of_the_same_key_after_the_run_ended_starts_a_new_run(stepfunctions, load_event, lambda_context):
    first = start_run.handler(load_event("start_run"), lambda_context)
    stepfunctions.stop_execution(executionArn=first["execution_arn"])
    event = load_event("start_run")
    event["detail"]["object"]["sequencer"] = "00663209F0B3F2A5FF"

    result = start_run.handler(event, lambda_context)

    assert result["started"] is True
    assert result["run_id"] != RUN_ID
    assert len(executions(stepfunctions)) == 2


def test_the_etag_is_used_when_there_is_no_sequencer(stepfunctions, load_event, lambda_context):
    event = load_event("start_run")
    del event["detail"]["object"]["sequencer"]

    result = start_run.handler(event, lambda_context)

    assert result["started"] is True
    assert result["run_id"].startswith("ratings-2024-05-")
    assert result["run_id"] != RUN_ID


def test_a_schedule_starts_a_run_named_after_the_event_time(stepfunctions, load_event, lambda_context, capsys):
    result = start_run.handler(load_event("start_run_scheduled"), lambda_context)

    assert result["run_id"] == "scheduled-20240506T0300Z"
    assert result["started"] is True
    execution = stepfunctions.describe_execution(executionArn=result["execution_arn"])
    assert json.loads(execution["input"]) == {
        "run_id": "scheduled-20240506T0300Z",
        "trigger": {
            "type": "schedule",
            "time": "2024-05-06T03:00:00+00:00",
            "rule": "arn:aws:events:us-east-1:123456789012:rule/recflow-weekly-run",
            "request_id": lambda_context.aws_request_id,
        },
    }
    assert emitted_metrics(capsys.readouterr().out) == {"RunsStarted": 1.0}


@pytest.mark.parametrize(
    ("bucket", "key", "reason"),
    [
        (BUCKET, "raw/", "raw/ is a folder marker, not a data file"),
        (BUCKET, "raw/2024/", "raw/2024/ is a folder marker, not a data file"),
        (BUCKET, "rejects/run/part-0.json", "rejects/run/part-0.json is outside raw/"),
        (BUCKET, "rawdata/x.dat", "rawdata/x.dat is outside raw/"),
        ("another-bucket", "raw/x.dat", f"s3://another-bucket/raw/x.dat is not in the data bucket {BUCKET}"),
    ],
)
def test_objects_that_are_not_raw_data_files_start_nothing(
    stepfunctions, load_event, lambda_context, bucket, key, reason
):
    event = load_event("start_run")
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key

    result = start_run.handler(event, lambda_context)

    assert result == {"run_id": None, "execution_arn": None, "started": False, "reason": reason, "queued": False}
    assert executions(stepfunctions) == []


def test_an_upload_without_version_sequencer_or_etag_is_an_invalid_event(stepfunctions, load_event, lambda_context):
    event = load_event("start_run")
    del event["detail"]["object"]["version-id"]
    del event["detail"]["object"]["sequencer"]
    del event["detail"]["object"]["etag"]

    with pytest.raises(InvalidEvent, match="raw/ratings-2024-05.dat has no version-id, sequencer or etag"):
        start_run.handler(event, lambda_context)


def test_an_event_of_another_type_is_an_invalid_event(stepfunctions, load_event, lambda_context):
    event = load_event("start_run")
    event["detail-type"] = "Object Deleted"

    with pytest.raises(InvalidEvent, match="The start_run event is invalid") as raised:
        start_run.handler(event, lambda_context)

    assert "'Object Created', 'Scheduled Event'" in str(raised.value)
    assert executions(stepfunctions) == []
