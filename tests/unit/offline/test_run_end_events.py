"""moto_extensions section 2: Step Functions' end-of-execution events, and Lambda's async retries and dead letters."""

import json
import time

import boto3
import test_moto_extensions as base
from test_moto_extensions import _extended, _function

aws, handlers = base.aws, base.handlers  # their fixtures
# One machine for every execution: moto deep-copies a second machine together with the first one's runs.
MACHINE = {
    "StartAt": "Fail?",
    "States": {
        "Fail?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.fail", "IsPresent": True, "Next": "Fail"}],
            "Default": "Done",
        },
        "Done": {"Type": "Pass", "Result": {"n": 1}, "End": True},
        "Fail": {"Type": "Fail", "Error": "Boom", "Cause": "c"},
    },
}

ENDED = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    "detail": {"status": ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]},
}


def _execute(name: str, execution_input: dict) -> dict:
    sfn = boto3.client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    machine = (
        machines[0]["stateMachineArn"]
        if machines
        else sfn.create_state_machine(
            name="pipeline", definition=json.dumps(MACHINE), roleArn="arn:aws:iam::123456789012:role/pipeline"
        )["stateMachineArn"]
    )
    execution = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(execution_input))
    deadline = time.monotonic() + 30
    while (result := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.02)
    return dict(result)


def _rule(name: str, target_arn: str) -> None:
    events = boto3.client("events")
    events.put_rule(Name=name, EventPattern=json.dumps(ENDED))
    events.put_targets(Rule=name, Targets=[{"Id": "1", "Arn": target_arn}])


def test_an_execution_that_ends_puts_a_status_change_event_shaped_like_aws(aws, handlers):
    with _extended() as ext:
        _rule("ended", _function("echo", "fake_handlers.echo"))
        succeeded = _execute("run-1", {})
        failed = _execute("run-2", {"fail": True})
        assert ext.wait_for_deliveries(10)

    details = [call["detail"] for call in handlers.calls]
    assert [(d["name"], d["status"]) for d in details] == [("run-1", "SUCCEEDED"), ("run-2", "FAILED")]
    first = details[0]
    assert first["executionArn"] == succeeded["executionArn"]
    assert first["stateMachineArn"] == succeeded["stateMachineArn"]
    assert json.loads(first["output"]) == {"n": 1} and json.loads(first["input"]) == {}
    assert isinstance(first["startDate"], int) and first["stopDate"] >= first["startDate"]
    assert (details[1]["error"], details[1]["cause"]) == ("Boom", "c")
    assert details[1]["executionArn"] == failed["executionArn"]
    assert {call["detail-type"] for call in handlers.calls} == {"Step Functions Execution Status Change"}
    assert handlers.calls[0]["source"] == "aws.states"
    assert handlers.calls[0]["resources"] == [succeeded["executionArn"]]


def test_a_function_failing_every_async_attempt_sends_the_event_to_its_dead_letter_queue(aws, handlers):
    with _extended() as ext:
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        role = boto3.client("iam").create_role(RoleName="r-fail", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        arn = boto3.client("lambda").create_function(
            FunctionName="fail",
            Runtime="python3.12",
            Role=role,
            Handler="fake_handlers.fail",
            Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
            DeadLetterConfig={"TargetArn": queue_arn},
        )["FunctionArn"]
        _rule("ended", arn)
        _execute("run-1", {})
        assert ext.wait_for_deliveries(10)
        configuration = boto3.client("lambda").get_function_configuration(FunctionName="fail")
        messages = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]

    assert configuration["DeadLetterConfig"] == {"TargetArn": queue_arn}
    (message,) = messages
    assert json.loads(message["Body"])["detail"]["name"] == "run-1"
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"] == "JobFailed: the import job failed: bad data"
    assert ext.trigger_errors == ["JobFailed: the import job failed: bad data"]
