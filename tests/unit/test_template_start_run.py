"""template.yaml's StartRunFunction: one invocation at a time, told when runs end, nothing dropped."""

from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
RESOURCES: dict[str, Any] = cfn_yaml.loads((ROOT / "template.yaml").read_text())["Resources"]
START_RUN = RESOURCES["StartRunFunction"]["Properties"]
QUEUE_ARN = {"Fn::GetAtt": ["StartRunDeadLetterQueue", "Arn"]}


def test_start_run_handles_one_event_at_a_time_and_keeps_what_fails_all_retries():
    assert START_RUN["ReservedConcurrentExecutions"] == 1  # the lock is read and written by one invocation
    assert START_RUN["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": QUEUE_ARN}
    for name, event in START_RUN["Events"].items():
        assert event["Properties"]["DeadLetterConfig"] == {"Arn": QUEUE_ARN}, name


def test_start_run_hears_every_way_a_run_of_the_pipeline_ends():
    pattern = START_RUN["Events"]["RunEnded"]["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "PipelineStateMachine"}]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "SUCCEEDED", "TIMED_OUT"]


def test_the_dead_letter_queue_is_encrypted_and_only_the_start_run_rules_may_send_to_it():
    queue = RESOURCES["StartRunDeadLetterQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    (statement,) = RESOURCES["StartRunDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    rules = {arn["Fn::GetAtt"][0] for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"]}
    assert rules == {f"StartRunFunction{event}" for event in START_RUN["Events"]}


def test_start_run_may_touch_only_its_lock_in_the_bucket():
    statements = [s for policy in START_RUN["Policies"] if "Statement" in policy for s in policy["Statement"]]
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in writes] == [{"Fn::Sub": "${DataBucket.Arn}/state/run-lock.json"}]
