"""The limits seams of moto_extensions (section 9) on small functions and state machines."""

import importlib
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from recflow.offline.clock import SimClock
from recflow.offline.moto_extensions import Extensions, GlueOutcome, extended_moto

REGION = "us-east-1"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
MB = 1024 * 1024


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture
def handlers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    (tmp_path / "limit_handlers.py").write_text(
        textwrap.dedent("""
        import time
        import boto3
        def hungry(event, context):
            # 1 MB blocks of written bytes: fresh pages (malloc, not the object allocator's reusable
            # arenas), allocated in a loop that lets the sampling thread run, as a handler reading lines does
            held = [b"x" * (1 << 20) for _ in range(event["mb"])]
            return {"mb": len(held)}
        def slow(event, context):
            time.sleep(event["seconds"])
            return {"slept": event["seconds"]}
        def uploader(event, context):
            body = b"x" * event["bytes"]
            boto3.client("s3").put_object(Bucket="limits-bucket", Key="k", Body=body)
            return {"uploaded": len(body)}
        def echo(event, context):
            return event
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import limit_handlers  # type: ignore[import-not-found]

    return importlib.reload(limit_handlers)


def _extended() -> Any:
    return extended_moto(
        SimClock(start=1_000_000.0, scale=0),
        lambda name, args: GlueOutcome("SUCCEEDED"),
        lambda account, region, schemas: pytest.fail("Personalize was not expected here"),
    )


def _function(name: str, handler: str, memory: int = 128, timeout: int = 3) -> str:
    role = boto3.client("iam").create_role(RoleName=f"r-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn: str = boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler=handler,
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
        MemorySize=memory,
        Timeout=timeout,
    )["FunctionArn"]
    return arn


def _invoke(name: str, event: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    reply = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return reply.get("FunctionError"), json.loads(reply["Payload"].read())


def test_a_handler_over_its_memory_size_answers_runtime_out_of_memory(aws: Any, handlers: Any) -> None:
    with _extended() as ext:
        _function("hungry", "limit_handlers.hungry", memory=128, timeout=60)
        small = _invoke("hungry", {"mb": 1})
        big = _invoke("hungry", {"mb": 200})  # 200 MB over a ~65 MB runtime
    assert small == (None, {"mb": 1})
    function_error, payload = big
    assert function_error == "Unhandled" and payload["errorType"] == "Runtime.OutOfMemory"
    assert payload["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    first, second = _usage(ext)
    assert first["memory_mb"] < 128 < second["memory_mb"] and second["error_type"] == "Runtime.OutOfMemory"


def test_a_handler_over_its_timeout_answers_sandbox_timedout(aws: Any, handlers: Any) -> None:
    with _extended() as ext:
        _function("slow", "limit_handlers.slow", timeout=1)
        function_error, payload = _invoke("slow", {"seconds": 1.2})
    assert function_error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    (usage,) = _usage(ext)
    assert usage["seconds"] >= 1.2 and usage["timeout_seconds"] == 1


def test_what_an_aws_call_keeps_in_moto_is_not_the_functions_memory(aws: Any, handlers: Any) -> None:
    # Given a function that uploads 40 MB: moto keeps a copy (and more) inside this process
    boto3.client("s3").create_bucket(Bucket="limits-bucket")
    with _extended() as ext:
        _function("uploader", "limit_handlers.uploader", memory=512)
        function_error, _ = _invoke("uploader", {"bytes": 40 * MB})
    # Then the function's memory is its runtime, its own 40 MB body and the request it builds, not moto's copy
    (usage,) = _usage(ext)
    assert function_error is None
    # (at least the body's pages, less what other threads of this process may free meanwhile)
    assert 38 < usage["memory_mb"] - _baseline(ext) < 55


def _definition(catch: list[str]) -> dict[str, Any]:
    """A 150 KB input, then a task whose Parameters double it past 256 KiB."""
    return {
        "StartAt": "Load",
        "States": {
            "Load": {"Type": "Pass", "Result": "x" * 150_000, "ResultPath": "$.big", "Next": "Send"},
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
                "Parameters": {"a.$": "$.big", "b.$": "$.big"},
                "Catch": [{"ErrorEquals": catch, "ResultPath": "$.failure", "Next": "Caught"}],
                "Next": "Done",
            },
            "Caught": {"Type": "Pass", "Parameters": {"error.$": "$.failure.Error"}, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }


def _execute(definition: dict[str, Any], name: str) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    role = f"arn:aws:iam::123456789012:role/{name}"
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"]
    deadline = time.monotonic() + 60
    while (result := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.05)
    described: dict[str, Any] = result
    return described


# One state machine per test: moto 5.2.1 cannot start an execution of a second machine in the same mock
# (deepcopy meets the first one's RLock), with or without recflow's extensions.


def test_a_state_input_over_256_kib_after_parameters_fails_inside_the_state_for_a_catch_naming_it(
    aws: Any, handlers: Any
) -> None:
    with _extended():
        _function("echo", "limit_handlers.echo", memory=512)
        caught = _execute(_definition(["States.DataLimitExceeded"]), "named")
    assert caught["status"] == "SUCCEEDED"
    assert json.loads(caught["output"]) == {"error": "States.DataLimitExceeded"}


def test_states_all_does_not_catch_data_limit_exceeded(aws: Any, handlers: Any) -> None:
    with _extended():
        _function("echo", "limit_handlers.echo", memory=512)
        uncaught = _execute(_definition(["States.ALL"]), "wildcard")
    assert uncaught["status"] == "FAILED" and uncaught["error"] == "States.DataLimitExceeded"
    assert "'Send' has an input of 300" in uncaught["cause"]


def _usage(ext: Extensions) -> list[dict[str, Any]]:
    return [
        {
            "memory_mb": call.memory_mb,
            "seconds": call.seconds,
            "timeout_seconds": call.timeout_seconds,
            "error_type": call.error_type,
        }
        for call in ext.lambda_invocations
    ]


def _baseline(ext: Extensions) -> float:
    from recflow.offline.limits import runtime_baseline_mb

    return runtime_baseline_mb()
