"""AWS's limits, offline: a handler over its MemorySize or Timeout and a state over 256 KiB fail the run through
the real state machine the way they would on AWS, and a normal run reports what it used."""

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import recflow_lambda.handlers.check_data as check_data
import recflow_lambda.handlers.notify_failure as notify_failure

from recflow.offline import runtime
from recflow.offline.limits import PAYLOAD_LIMIT_BYTES
from recflow.offline.runtime import RunRequest, run
from recflow.offline.template import Template
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

DEFINITION = Path(__file__).resolve().parents[2] / "statemachine" / "pipeline.asl.json"


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    generate(path, users=60, items=200, interactions=3_000, seed=5)
    return path


@pytest.fixture
def notices(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """(phase, error, notified) of each failure notify_failure published to the run's SNS topic."""
    sent: list[Any] = []
    real = notify_failure.notify_failure

    def recording(event: Any, topic_arn: str) -> Any:
        notice = real(event, topic_arn)
        sent.append((event.phase, event.error, notice.notified))
        return notice

    monkeypatch.setattr(notify_failure, "notify_failure", recording)
    return sent


def _check_data_configured(monkeypatch: pytest.MonkeyPatch, **properties: int) -> None:
    """Deploy template.yaml with these properties (MemorySize, Timeout) on the check_data function."""

    class Configured(Template):
        def __init__(self, path: Path, parameters: dict[str, str] | None = None) -> None:
            super().__init__(path, parameters)
            self.resources["CheckDataFunction"]["Properties"].update(properties)

    monkeypatch.setattr(runtime, "Template", Configured)


def _function(summary: runtime.Summary, logical_id: str) -> Any:
    (usage,) = [u for name, u in summary.lambdas.items() if f"-{logical_id}-" in name]
    return usage


def test_a_handler_over_its_128_mb_fails_the_run_as_aws_out_of_memory_and_notifies(
    raw_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notices: list[Any]
) -> None:
    # Given check_data limited to 128 MB, holding 150 MB besides the runtime's own memory
    _check_data_configured(monkeypatch, MemorySize=128)
    real = check_data.handler

    def hungry(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # 150 MB in fresh 1 MB blocks: small objects could reuse what a long test process freed earlier
        held = [b"x" * (1 << 20) for _ in range(150)]
        result: dict[str, Any] = real(event, context)
        return {**result, "blocks_held": len(held)}

    monkeypatch.setattr(check_data, "handler", hungry)
    # When the pipeline runs
    summary = run(RunRequest(raw_files=[raw_file], lake=tmp_path / "lake", time_scale=0))
    # Then the run fails with Lambda's error name, caught by the state's Catch and notified
    assert summary.status == "FAILED"
    assert (summary.error, summary.failed_phase) == ("Runtime.OutOfMemory", "data")
    assert summary.cause is not None and "Runtime exited with error: signal: killed" in summary.cause
    assert notices == [("data", "Runtime.OutOfMemory", True)]
    usage = _function(summary, "CheckDataFunction")
    assert (usage.invocations, usage.errors, usage.memory_limit_mb) == (1, 1, 128)
    assert usage.max_memory_mb > 128
    assert _function(summary, "NotifyFailureFunction").errors == 0


def test_a_handler_over_its_timeout_fails_the_run_as_aws_sandbox_timeout_and_notifies(
    raw_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notices: list[Any]
) -> None:
    # Given check_data with a 1 s Timeout that takes longer
    _check_data_configured(monkeypatch, Timeout=1)
    real = check_data.handler

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(1.3)
        result: dict[str, Any] = real(event, context)
        return result

    monkeypatch.setattr(check_data, "handler", slow)
    summary = run(RunRequest(raw_files=[raw_file], lake=tmp_path / "lake", time_scale=0))
    assert summary.status == "FAILED"
    assert (summary.error, summary.failed_phase) == ("Sandbox.Timedout", "data")
    assert summary.cause is not None and "Task timed out after 1.00 seconds" in summary.cause
    assert notices == [("data", "Sandbox.Timedout", True)]
    usage = _function(summary, "CheckDataFunction")
    assert usage.max_seconds > 1 and usage.timeout_seconds == 1 and usage.errors == 1


def test_a_task_result_over_256_kib_fails_with_data_limit_exceeded_and_the_pipelines_catcher_notifies(
    raw_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notices: list[Any]
) -> None:
    # Given check_data answering a report that carries 300 KB of file names
    real = check_data.handler

    def oversized(event: dict[str, Any], context: Any) -> dict[str, Any]:
        result: dict[str, Any] = real(event, context)
        return {**result, "files": [f"raw/part-{i:06d}.dat" for i in range(15_000)]}

    monkeypatch.setattr(check_data, "handler", oversized)
    summary = run(RunRequest(raw_files=[raw_file], lake=tmp_path / "lake", time_scale=0))
    # Then the "Check data" Catch naming States.DataLimitExceeded routes it to the failure notification
    assert summary.status == "FAILED"
    assert (summary.error, summary.failed_phase) == ("DataStepFailed", "data")
    assert summary.cause is not None and "States.DataLimitExceeded" in summary.cause
    assert notices == [("data", "DataStepFailed", True)]
    assert summary.largest_payload is not None and summary.largest_payload.bytes < PAYLOAD_LIMIT_BYTES


def test_a_normal_run_reports_each_functions_memory_and_time_within_its_limits(raw_file: Path, tmp_path: Path) -> None:
    entered: list[str] = []
    summary = run(RunRequest(raw_files=[raw_file], lake=tmp_path / "lake", time_scale=0), on_state=entered.append)
    assert summary.status == "SUCCEEDED", summary.cause
    # Each function was invoked once per entry into a state whose Resource is it, and start_run twice by
    # EventBridge: for the upload and for the run's end
    states = json.loads(DEFINITION.read_text())["States"]
    function_of = {
        name: match.group(1)
        for name, state in states.items()
        if (match := re.fullmatch(r"\$\{(\w+)FunctionArn\}", str(state.get("Resource", ""))))
    }
    expected = Counter(f"{function_of[state]}Function" for state in entered if state in function_of)
    expected["StartRunFunction"] = 2
    invoked = {name.split("-")[-2]: usage.invocations for name, usage in summary.lambdas.items()}
    assert invoked == dict(expected)
    for name, usage in summary.lambdas.items():
        assert 30 < usage.max_memory_mb < usage.memory_limit_mb, name  # at least an interpreter, within MemorySize
        assert 0 < usage.max_seconds < usage.timeout_seconds, name
        assert usage.errors == 0, name
    written = json.loads((tmp_path / "lake" / "runs" / summary.run_id / "summary.json").read_text())
    assert set(written["lambdas"]) == set(summary.lambdas)
    assert written["largest_payload"]["bytes"] == summary.largest_payload.bytes  # type: ignore[union-attr]
    assert 0 < written["largest_payload"]["bytes"] < PAYLOAD_LIMIT_BYTES


@pytest.mark.slow
def test_a_run_over_2000_raw_files_stays_well_under_the_payload_limit(raw_file: Path, tmp_path: Path) -> None:
    # Given 2,000 small raw files (the ETL report lists every one)
    header, *lines = raw_file.read_text().splitlines()
    parts = tmp_path / "raw"
    parts.mkdir()
    files = []
    for i in range(2_000):
        path = parts / f"ratings-{i:04d}.dat"
        path.write_text("\n".join([header, *lines[i::2_000]]) + "\n")
        files.append(path)
    summary = run(RunRequest(raw_files=files, lake=tmp_path / "lake", time_scale=0))
    # Then no state's input, output or task result comes near 256 KiB: the payload carries counts, not lists
    assert summary.status == "SUCCEEDED", summary.cause
    assert summary.largest_payload is not None
    assert summary.largest_payload.bytes < 16 * 1024, summary.largest_payload
