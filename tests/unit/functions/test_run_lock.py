"""start_run keeps at most one run in flight: uploads during a run wait for one follow-up run (state/run-lock.json)."""

import json
from dataclasses import replace

import boto3
import pytest
from botocore.exceptions import ClientError
from lambda_env import BUCKET, ENVIRONMENT, REGION, RUN_ID, STATE_MACHINE_NAME, emitted_metrics
from recflow_lambda import run_lock
from recflow_lambda.handlers import start_run
from recflow_lambda.models import RunLock
from recflow_lambda.runs import follow_up_run_id

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
MACHINE = ENVIRONMENT["STATE_MACHINE_ARN"]


@pytest.fixture
def stepfunctions(aws):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    client = boto3.client("stepfunctions", region_name=REGION)
    client.create_state_machine(
        name=STATE_MACHINE_NAME, definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::123456789012:role/r"
    )
    return client  # moto's executions stay RUNNING until stopped: a run in flight


def upload(load_event, sequencer: str, key: str = "raw/ratings-2024-05.dat") -> dict:
    event = load_event("start_run")
    event["detail"]["object"].update({"key": key, "sequencer": sequencer})
    return event


def ended(load_event, execution_arn: str, status: str = "SUCCEEDED") -> dict:
    event = load_event("start_run_run_ended")
    event["detail"].update(executionArn=execution_arn, name=execution_arn.rsplit(":", 1)[1], status=status)
    return event


def names(client) -> list[str]:
    return sorted(e["name"] for e in client.list_executions(stateMachineArn=MACHINE)["executions"])


def lock() -> RunLock:
    return run_lock.read_lock(BUCKET)[0]


def test_uploads_during_a_run_wait_for_one_follow_up_run_that_covers_them(stepfunctions, load_event, lambda_context):
    # Given a run in flight for the first upload
    first = start_run.handler(load_event("start_run"), lambda_context)
    assert first["started"] is True

    # When three more files arrive while it runs
    queued = [start_run.handler(upload(load_event, f"0066320A{n:010d}"), lambda_context) for n in range(3)]

    # Then none starts a run: each waits in the lock
    assert [(r["started"], r["queued"]) for r in queued] == [(False, True)] * 3
    assert names(stepfunctions) == [RUN_ID]
    assert lock().execution_arn == first["execution_arn"] and len(lock().pending) == 3

    # When the run ends
    stepfunctions.stop_execution(executionArn=first["execution_arn"])  # moto's runs end only when stopped
    follow_up = start_run.handler(ended(load_event, first["execution_arn"]), lambda_context)

    # Then one follow-up run starts, named from the waiting triggers, and becomes the run in flight
    assert follow_up["started"] is True and follow_up["run_id"].startswith("followup-")
    assert names(stepfunctions) == sorted([RUN_ID, follow_up["run_id"]])
    execution_input = json.loads(stepfunctions.describe_execution(executionArn=follow_up["execution_arn"])["input"])
    assert execution_input["run_id"] == follow_up["run_id"]
    assert execution_input["trigger"]["type"] == "follow-up"
    assert execution_input["trigger"]["covers"] == 3
    assert execution_input["trigger"]["after"] == first["execution_arn"]
    assert lock().execution_arn == follow_up["execution_arn"] and lock().pending == []
    assert len(lock().covers) == 3 and lock().recent == [RUN_ID]
    assert follow_up["run_id"] == follow_up_run_id(lock().covers)


def test_a_duplicate_delivery_of_a_waiting_upload_changes_nothing(stepfunctions, load_event, lambda_context, capsys):
    start_run.handler(load_event("start_run"), lambda_context)
    waiting = upload(load_event, "0066320AFF")
    start_run.handler(waiting, lambda_context)
    before = lock()
    capsys.readouterr()

    again = start_run.handler(waiting, replace(lambda_context, aws_request_id="another-request"))

    assert again["started"] is False and again["queued"] is False
    assert "duplicate delivery" in again["reason"]
    assert lock().pending == before.pending
    assert emitted_metrics(capsys.readouterr().out) == {"TriggersSkipped": 1.0}


def test_a_redelivered_end_event_starts_no_second_follow_up(stepfunctions, load_event, lambda_context):
    first = start_run.handler(load_event("start_run"), lambda_context)
    start_run.handler(upload(load_event, "0066320AFF"), lambda_context)
    stepfunctions.stop_execution(executionArn=first["execution_arn"])
    start_run.handler(ended(load_event, first["execution_arn"]), lambda_context)

    again = start_run.handler(ended(load_event, first["execution_arn"]), replace(lambda_context, aws_request_id="r2"))

    assert again["started"] is False
    assert again["reason"] == f"run {RUN_ID} is not the run in flight (its end was already handled)"
    assert len(names(stepfunctions)) == 2


def test_a_follow_up_starts_after_a_failed_run(stepfunctions, load_event, lambda_context):
    first = start_run.handler(load_event("start_run"), lambda_context)
    start_run.handler(upload(load_event, "0066320AFF"), lambda_context)
    stepfunctions.stop_execution(executionArn=first["execution_arn"])

    follow_up = start_run.handler(ended(load_event, first["execution_arn"], "FAILED"), lambda_context)

    assert follow_up["started"] is True
    assert len(names(stepfunctions)) == 2


def test_a_run_ending_with_nothing_waiting_releases_the_lock(stepfunctions, load_event, lambda_context):
    first = start_run.handler(load_event("start_run"), lambda_context)
    stepfunctions.stop_execution(executionArn=first["execution_arn"])

    result = start_run.handler(ended(load_event, first["execution_arn"], "ABORTED"), lambda_context)

    assert result["started"] is False
    assert result["reason"] == f"run {RUN_ID} ended ABORTED; no trigger arrived meanwhile"
    assert lock().execution_arn is None and lock().recent == [RUN_ID]
    # And a late duplicate of the upload still starts nothing
    late = start_run.handler(load_event("start_run"), replace(lambda_context, aws_request_id="late"))
    assert late["started"] is False and len(names(stepfunctions)) == 1


def test_a_run_stopped_without_its_end_event_does_not_block_the_next_upload(stepfunctions, load_event, lambda_context):
    # Given the run in flight was stopped and its end event never reached the function, with one upload waiting
    first = start_run.handler(load_event("start_run"), lambda_context)
    start_run.handler(upload(load_event, "0066320AFF"), lambda_context)
    stepfunctions.stop_execution(executionArn=first["execution_arn"])

    # When another file arrives
    result = start_run.handler(upload(load_event, "0066320B00"), lambda_context)

    # Then it starts a run at once, covering the upload that waited as well
    assert result["started"] is True and result["run_id"].startswith("followup-")
    assert len(lock().covers) == 2 and lock().pending == []
    # And the late end event of the stopped run starts nothing more
    late = start_run.handler(ended(load_event, first["execution_arn"], "ABORTED"), lambda_context)
    assert late["started"] is False and len(names(stepfunctions)) == 2


def test_a_schedule_during_a_run_waits_like_an_upload(stepfunctions, load_event, lambda_context):
    start_run.handler(load_event("start_run"), lambda_context)

    result = start_run.handler(load_event("start_run_scheduled"), lambda_context)

    assert result["queued"] is True
    assert [p.marker for p in lock().pending] == ["scheduled-20240506T0300Z"]
    assert [p.trigger.type for p in lock().pending] == ["schedule"]


def test_end_events_of_other_state_machines_or_unfinished_runs_change_nothing(
    stepfunctions, load_event, lambda_context
):
    first = start_run.handler(load_event("start_run"), lambda_context)
    start_run.handler(upload(load_event, "0066320AFF"), lambda_context)
    other = ended(load_event, first["execution_arn"])
    other["detail"]["stateMachineArn"] = MACHINE + "-other"
    running = ended(load_event, first["execution_arn"], "RUNNING")

    results = [start_run.handler(event, lambda_context) for event in (other, running)]

    assert [r["started"] for r in results] == [False, False]
    assert len(lock().pending) == 1 and names(stepfunctions) == [RUN_ID]


def test_a_lock_written_by_someone_else_since_it_was_read_is_not_overwritten(stepfunctions):
    # Given the lock as read, then written by another invocation
    run_lock.write_lock(BUCKET, RunLock(), None)
    _, etag = run_lock.read_lock(BUCKET)
    run_lock.write_lock(BUCKET, RunLock(execution_arn="arn:other"), etag)

    # When a write from the stale read comes
    with pytest.raises(ClientError) as raised:
        run_lock.write_lock(BUCKET, RunLock(execution_arn="arn:stale"), etag)

    # Then S3 refuses it (Lambda retries the event) and the other write stays
    assert raised.value.response["Error"]["Code"] == "PreconditionFailed"
    assert lock().execution_arn == "arn:other"
    with pytest.raises(ClientError):  # a first lock is written only if there is none
        run_lock.write_lock(BUCKET, RunLock(), None)


def test_a_lock_naming_another_state_machines_execution_holds_nothing(stepfunctions, load_event, lambda_context):
    # Given a lock restored from another stack, naming an execution of its state machine
    other = "arn:aws:states:us-east-1:123456789012:execution:another-pipeline:ratings-2024-05-789bf09d1697"
    run_lock.write_lock(BUCKET, RunLock(execution_arn=other, covers=["x"]), None)

    # When an upload arrives, Then it starts a run (without asking about the other machine's execution)
    result = start_run.handler(load_event("start_run"), lambda_context)

    assert result["started"] is True and lock().execution_arn == result["execution_arn"]


def test_a_retry_after_a_failed_lock_write_finds_the_follow_up_it_started(
    stepfunctions, load_event, lambda_context, monkeypatch
):
    # Given a run with one upload waiting, ended; and the first attempt at its end fails writing the lock
    first = start_run.handler(load_event("start_run"), lambda_context)
    start_run.handler(upload(load_event, "0066320AFF"), lambda_context)
    stepfunctions.stop_execution(executionArn=first["execution_arn"])
    write = run_lock.write_lock
    failures = iter([ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "PutObject")])

    def flaky_write(*args, **kwargs):
        if failure := next(failures, None):
            raise failure
        return write(*args, **kwargs)

    monkeypatch.setattr(run_lock, "write_lock", flaky_write)
    with pytest.raises(ClientError):
        start_run.handler(ended(load_event, first["execution_arn"]), lambda_context)

    # When Lambda retries the same request
    retry = start_run.handler(ended(load_event, first["execution_arn"]), lambda_context)

    # Then it gets the follow-up the first attempt started (same name, same input), and the lock names it
    assert retry["started"] is True
    assert len(names(stepfunctions)) == 2
    assert lock().execution_arn == retry["execution_arn"] and lock().pending == []
