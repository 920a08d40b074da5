"""Lambda memory and time, state payloads: the measures and verdicts of recflow/offline/limits.py."""

import json

import boto3
from moto import mock_aws

from recflow.offline import limits
from recflow.offline.limits import Invocation, measured_invocation


def _invocation(memory_mb: float = 80.0, seconds: float = 1.0, error_type: str | None = None) -> Invocation:
    return Invocation(
        function_name="recflow-CheckDataFunction-ABC",
        memory_mb=memory_mb,
        memory_limit_mb=128,
        seconds=seconds,
        timeout_seconds=3,
        error_type=error_type,
        request_id="0f1e2d3c-0000-4000-8000-000000000000",
    )


def test_a_payload_counts_the_utf8_bytes_of_its_compact_json():
    assert limits.payload_bytes({"a": [1, 2]}) == len(b'{"a":[1,2]}')
    assert limits.payload_bytes({"name": "é"}) == len('{"name":"é"}'.encode())  # 2 bytes for é
    assert limits.payload_bytes('{"already": "json"}') == 19  # a string is counted as it is


def test_an_invocation_within_its_limits_has_no_error():
    assert _invocation(memory_mb=127.9, seconds=2.99).limit_error() is None


def test_over_its_memory_an_invocation_answers_aws_out_of_memory_error():
    error = _invocation(memory_mb=128.1).limit_error()
    assert error == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": "RequestId: 0f1e2d3c-0000-4000-8000-000000000000 "
        "Error: Runtime exited with error: signal: killed",
    }


def test_over_its_timeout_an_invocation_answers_aws_timeout_error():
    error = _invocation(seconds=3.2).limit_error()
    assert error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: 0f1e2d3c-0000-4000-8000-000000000000 Error: Task timed out after 3.00 seconds",
    }


def test_the_meter_counts_what_the_invocation_allocates():
    with measured_invocation() as meter:
        block = b"x" * (40 * limits.MB)  # written, so resident (a zeroed bytearray may not be)
        peak, seconds = meter.finish()
    del block
    assert 40 * limits.MB <= peak < 50 * limits.MB
    assert 0 <= seconds < 60


def test_the_meter_leaves_out_what_an_aws_call_allocates_and_keeps():
    # Given a handler putting a 30 MB object into moto's S3 (the seam in moto_extensions marks the call)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        with measured_invocation() as meter:
            body = b"x" * (30 * limits.MB)  # the handler's own
            with limits.aws_call():
                s3.put_object(Bucket="bucket", Key="k", Body=body)
            peak, _ = meter.finish()
    # Then only the handler's body counts, not moto's stored copy of it (another 30 MB or more)
    assert 30 * limits.MB <= peak < 45 * limits.MB


def test_time_in_aws_calls_is_left_out():
    with measured_invocation() as meter:
        with limits.aws_call():
            import time

            time.sleep(0.2)
        _, seconds = meter.finish()
    assert seconds < 0.2


def test_lambda_usage_is_per_function_with_its_limits():
    usage = limits.lambda_usage(
        [_invocation(memory_mb=70.0, seconds=0.5), _invocation(memory_mb=90.5, seconds=0.2, error_type="Oops")]
    )
    assert {name: u.model_dump() for name, u in usage.items()} == {
        "recflow-CheckDataFunction-ABC": {
            "invocations": 2,
            "errors": 1,
            "max_memory_mb": 90.5,
            "memory_limit_mb": 128,
            "max_seconds": 0.5,
            "timeout_seconds": 3,
        }
    }


def test_the_largest_payload_names_its_state_and_kind():
    big = json.dumps({"run_id": "r", "report": "x" * 1000})
    history = [
        {"id": 1, "stateEnteredEventDetails": {"name": "Check data", "input": '{"run_id":"r"}'}},
        {"id": 2, "lambdaFunctionScheduledEventDetails": {"input": '{"run_id": "r"}'}},
        {"id": 3, "lambdaFunctionSucceededEventDetails": {"output": big}},
        {"id": 4, "stateExitedEventDetails": {"name": "Check data", "output": '{"run_id":"r"}'}},
        {"id": 5, "stateEnteredEventDetails": {"name": "Run succeeded", "input": '{"run_id":"r"}'}},
    ]
    largest = limits.largest_payload(history)
    assert largest is not None
    assert (largest.state, largest.kind, largest.bytes) == (
        "Check data",
        "result",
        limits.payload_bytes(json.loads(big)),
    )
    assert largest.limit_bytes == 262_144


def test_the_runtime_baseline_is_an_interpreter_with_the_handlers_imports():
    # boto3, Powertools and pydantic: tens of MB, far from any function's MemorySize
    assert 30 < limits.runtime_baseline_mb() < 200
