"""Pipeline runs: executions of the state machine (named after the run id) and their ETL reports."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recflow_lambda import naming
from recflow_lambda.failures import readable_cause
from recflow_lambda.models import Trigger
from recflow_lambda.runs import RAW_PREFIX

from recflow.execution_history import JOB_PATHS, latest_outputs, phase_of_state, polls_by_phase, wall_seconds_by_phase
from recflow.operator.stack import OperatorError, Stack


@dataclass
class Failure:
    """How a run ended without success: the phase, the error's name and its cause as one sentence."""

    phase: str | None
    error: str | None
    cause: str

    def sentence(self) -> str:
        return f"failed in phase {self.phase or 'unknown'}: {self.error or 'no error name'}: {self.cause}"


# The execution's end event for each status other than SUCCEEDED.
_END_DETAILS = ("executionFailedEventDetails", "executionTimedOutEventDetails", "executionAbortedEventDetails")


def failure_of(events: list[dict[str, Any]]) -> Failure | None:
    """The failure an execution history ends with (the sentence describe-execution and the report give,
    not the Lambda's stack trace); None while it runs or when it succeeded."""
    details: dict[str, Any] | None = next(
        (event[key] for event in reversed(events) for key in _END_DETAILS if key in event), None
    )
    if details is None:
        return None
    phase = (latest_outputs(events).get("failed") or {}).get("phase")
    return Failure(phase=phase, error=details.get("error"), cause=readable_cause(details.get("cause")))


@dataclass
class Run:
    run_id: str
    execution_arn: str
    status: str
    started: datetime
    stopped: datetime | None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] | None = None  # transformed/<run-id>/report.json
    error: str | None = None
    failure: Failure | None = None

    @property
    def seconds(self) -> float | None:
        return (self.stopped - self.started).total_seconds() if self.stopped else None


def list_executions(stack: Stack, last: int) -> list[dict[str, Any]]:
    """The newest ``last`` executions, newest first."""
    pages = stack.client("stepfunctions").get_paginator("list_executions")
    executions = [e for page in pages.paginate(stateMachineArn=stack.state_machine_arn) for e in page["executions"]]
    return sorted(executions, key=lambda e: e["startDate"], reverse=True)[:last]


def history(stack: Stack, execution_arn: str) -> list[dict[str, Any]]:
    pages = stack.client("stepfunctions").get_paginator("get_execution_history")
    return [event for page in pages.paginate(executionArn=execution_arn) for event in page["events"]]


def describe(stack: Stack, run_id: str) -> dict[str, Any]:
    """The execution of ``run_id``; an unknown run is an OperatorError."""
    sfn = stack.client("stepfunctions")
    try:
        return dict(sfn.describe_execution(executionArn=naming.execution_arn(stack.state_machine_arn, run_id)))
    except sfn.exceptions.ExecutionDoesNotExist:
        raise OperatorError(
            f"run {run_id!r} is unknown to stack {stack.name!r}: `recflow aws runs` lists the runs"
        ) from None


def etl_report(stack: Stack, run_id: str) -> dict[str, Any] | None:
    s3 = stack.client("s3")
    try:
        body = s3.get_object(Bucket=stack.bucket, Key=f"transformed/{run_id}/report.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    report: dict[str, Any] = json.loads(body)
    return report


def load_run(stack: Stack, execution: dict[str, Any]) -> Run:
    events = history(stack, execution["executionArn"])
    failure = failure_of(events)
    return Run(
        run_id=execution["name"],
        execution_arn=execution["executionArn"],
        status=execution["status"],
        started=execution["startDate"],
        stopped=execution.get("stopDate"),
        phase_seconds=wall_seconds_by_phase(events),
        report=etl_report(stack, execution["name"]),
        error=failure.error if failure else None,
        failure=failure,
    )


def recent_runs(stack: Stack, last: int) -> list[Run]:
    return [load_run(stack, execution) for execution in list_executions(stack, last)]


def upload_raw(stack: Stack, files: list[Path]) -> list[str]:
    """Upload each file to raw/ (a run starts unless one is in flight; the rest wait for one follow-up run);
    return the keys."""
    missing = [str(path) for path in files if not path.is_file()]
    if missing:  # before any upload: a half-uploaded set would start runs on part of the data
        raise OperatorError(f"{', '.join(missing)} is not a file: --raw takes raw interactions files")
    keys = []
    for path in files:
        key = RAW_PREFIX + path.name
        stack.client("s3").upload_file(str(path), stack.bucket, key)
        keys.append(key)
    return keys


def start_on_current_data(stack: Stack, now: datetime | None = None) -> str:
    """Start an execution on what raw/ holds now, as StartRun does for a schedule (same run id and input).

    The run id is naming.scheduled_run_id, to the minute: a second start within a minute is refused.
    """
    now = now or datetime.now(UTC)
    run_id = naming.scheduled_run_id(now)
    # No EventBridge rule started it; the request id says who did.
    trigger = Trigger(type="schedule", time=now.isoformat(), request_id=f"recflow-aws-run-{uuid.uuid4()}")
    sfn = stack.client("stepfunctions")
    try:
        sfn.start_execution(
            stateMachineArn=stack.state_machine_arn,
            name=run_id,
            input=json.dumps({"run_id": run_id, "trigger": trigger.model_dump(exclude_none=True)}),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        raise OperatorError(
            f"run {run_id} was already started this minute: follow it with `recflow aws status --follow`"
        ) from None
    return run_id


def wait_for_new_executions(
    stack: Stack, known: set[str], count: int, timeout: float, sleep: Callable[[float], None]
) -> dict[str, Any]:
    """The newest of the ``count`` executions that uploads started: those not in ``known``."""
    waited = 0.0
    while waited <= timeout:
        fresh = [e for e in list_executions(stack, 50) if e["executionArn"] not in known]
        if len(fresh) >= count:
            return fresh[0]
        sleep(1.0)
        waited += 1.0
    raise OperatorError(
        f"no run started within {timeout:.0f} s of the upload: check the stack's upload rule and StartRun function"
    )


@dataclass
class Progress:
    """What a follower shows: the current state, its phase, and each Personalize job's last poll."""

    status: str
    state: str | None
    phase: str | None
    jobs: dict[str, dict[str, Any]]  # phase -> {"status", "waited_seconds", "polls"}
    phase_seconds: dict[str, float]
    failure: Failure | None = None


def progress(events: list[dict[str, Any]], status: str) -> Progress:
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    latest = latest_outputs(events)
    polls = polls_by_phase(events)
    jobs: dict[str, dict[str, Any]] = {
        phase: {"status": job["status"], "waited_seconds": job.get("waited_seconds", 0), "polls": polls[phase]}
        for phase, path in JOB_PATHS.items()
        if isinstance(job := latest.get(path), dict) and "status" in job
    }
    state = entered[-1] if entered else None
    return Progress(
        status=status,
        state=state,
        phase=phase_of_state(state) if state else None,
        jobs=jobs,
        phase_seconds=wall_seconds_by_phase(events),
        failure=failure_of(events),
    )


def follow(
    stack: Stack, execution_arn: str, sleep: Callable[[float], None], interval: float = 1.0
) -> Iterator[tuple[list[dict[str, Any]], Progress]]:
    """Yield (new events, progress) after each poll until the execution ends."""
    sfn = stack.client("stepfunctions")
    seen = 0
    while True:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        events = history(stack, execution_arn)
        yield events[seen:], progress(events, status)
        seen = len(events)
        if status != "RUNNING":
            return
        sleep(interval)
