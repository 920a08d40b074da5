"""Fixtures shared by every test suite: a Lambda context and the sample events of events/."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object that Powertools and the handlers read."""

    function_name: str = "recflow-test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:recflow-test-function"
    aws_request_id: str = "6b2c4e3a-5d1f-4e8a-9c7b-0a1b2c3d4e5f"
    log_group_name: str = "/aws/lambda/recflow-test-function"
    log_stream_name: str = "2024/05/01/[$LATEST]0123456789abcdef"
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """``load_event("start_run")`` returns a fresh copy of events/start_run.json."""

    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / f"{name}.json").read_text())

    return load
