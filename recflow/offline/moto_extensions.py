"""Everything recflow adds to moto to run the pipeline offline, in one place.

moto (pinned in pyproject.toml) executes the real state machine, but out of the box it cannot:
1. run a Lambda function's real code without Docker (its simple backend only echoes),
2. deliver EventBridge events to Lambda and Step Functions targets,
3. run a Glue job's script, or finish `glue:startJobRun.sync` (it crashes on a missing callback endpoint),
4. let Wait states, retry intervals and .sync polls pass on a simulated clock instead of real time,
5. serve Personalize beyond the schema calls.

`extended_moto()` patches those five places for the duration of a `with` block, and each has a test
in tests/unit/offline/test_moto_extensions.py, so a moto upgrade that breaks one fails loudly.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import boto3
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError
from moto.core.utils import camelcase_to_underscores
from moto.events.models import Rule
from moto.glue.exceptions import ConcurrentRunsExceededException
from moto.glue.models import FakeJob, FakeJobRun
from moto.personalize.responses import PersonalizeResponse
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue import (
    StateTaskServiceGlue,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.utilities.arns import parse_arn

from recflow.offline.clock import SimClock, WallClock
from recflow.offline.environ import environment

# How much pipeline time passes between two polls of a `.sync` integration (Glue).
SYNC_POLL_SECONDS = 30


@dataclass(frozen=True)
class GlueOutcome:
    """What an offline Glue job run ended as: SUCCEEDED, FAILED, STOPPED, or RUNNING (never ends)."""

    state: str
    error_message: str | None = None


GlueRunner = Callable[[str, dict[str, str]], GlueOutcome]  # (job name, run arguments) -> outcome


@dataclass
class Extensions:
    """State shared by the patches; the offline runtime reads it after a run."""

    clock: SimClock | WallClock
    glue_runner: GlueRunner
    personalize_factory: Callable[[str, str], Any]  # (account, region) -> LocalPersonalize
    glue_start_throttles: int = 0  # ConcurrentRunsExceeded answers before a Glue run starts
    trigger_errors: list[str] = field(default_factory=list)
    _personalize: dict[tuple[str, str], Any] = field(default_factory=dict)
    _glue_runs: dict[str, tuple[GlueOutcome, float, float | None]] = field(default_factory=dict)
    _lambda_lock: threading.RLock = field(default_factory=threading.RLock)

    def personalize(self, account: str, region: str) -> Any:
        key = (account, region)
        if key not in self._personalize:
            self._personalize[key] = self.personalize_factory(account, region)
        return self._personalize[key]


@contextmanager
def extended_moto(
    clock: SimClock | WallClock,
    glue_runner: GlueRunner,
    personalize_factory: Callable[[str, str], Any],
    glue_start_throttles: int = 0,
) -> Iterator[Extensions]:
    """Patch moto for offline runs. Use inside `mock_aws(...)` (or around a moto server)."""
    ext = Extensions(clock, glue_runner, personalize_factory, glue_start_throttles)
    with ExitStack() as stack:
        for patcher in (
            *_lambda_patches(ext),
            *_eventbridge_patches(ext),
            *_glue_patches(ext),
            *_clock_patches(ext),
            *_personalize_patches(ext),
        ):
            stack.enter_context(patcher)
        yield ext


# --- 1. Lambda: run the real handler in-process ------------------------------------------------


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "offline"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _lambda_patches(ext: Extensions) -> list[Any]:
    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ANN001
        fn = self.get_function(function_name, qualifier)
        module_name, _, attr = fn.handler.rpartition(".")
        context = LambdaContext(fn.function_name, fn.function_arn, int(fn.memory_size), int(fn.timeout))
        event = json.loads(body) if body else {}
        # Lambda environments are per function; in one process they are per invocation, one at a time.
        with ext._lambda_lock, environment(fn.environment_vars):
            try:
                handler = getattr(importlib.import_module(module_name), attr)
                result = handler(event, context)
            except Exception as exc:  # the Lambda runtime turns any exception into a function error
                response_headers["x-amz-function-error"] = "Unhandled"
                error = {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc),
                }
                return json.dumps(error).encode()
        return json.dumps(result).encode()

    return [patch.object(LambdaSimpleBackend, "invoke", invoke)]


# --- 2. EventBridge: deliver to Lambda and Step Functions targets --------------------------------------------------


def _eventbridge_patches(ext: Extensions) -> list[Any]:
    original = Rule.send_to_targets
    delivered = {"lambda", "states"}

    def send_to_targets(self, original_event, transform_input=True):  # noqa: ANN001
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service in delivered]
        if len(ours) < len(self.targets):
            with patch.object(self, "targets", [t for t in self.targets if t not in ours]):
                original(self, original_event, transform_input)
        if not ours or not self.event_pattern.matches_event(original_event):
            return
        event = dict(original_event)
        if isinstance(event.get("time"), int | float):  # moto keeps epoch seconds; AWS sends ISO 8601
            event["time"] = datetime.fromtimestamp(event["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for target in ours:
            arn = parse_arn(target["Arn"])
            if arn.service == "states":  # EventBridge names the execution itself
                boto3.client("stepfunctions", region_name=arn.region).start_execution(
                    stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=json.dumps(event)
                )
                continue
            client = boto3.client("lambda", region_name=arn.region)
            reply = client.invoke(FunctionName=target["Arn"], Payload=json.dumps(event).encode())
            if reply.get("FunctionError"):  # S3 notifications swallow errors: keep them for the runtime
                error = json.loads(reply["Payload"].read())
                ext.trigger_errors.append(f"{error['errorType']}: {error['errorMessage']}")

    return [patch.object(Rule, "send_to_targets", send_to_targets)]


# --- 3. Glue: run the job, finish .sync ---------------------------------------------------------


def _glue_patches(ext: Extensions) -> list[Any]:
    original_start = FakeJob.start_job_run
    original_status = FakeJobRun.status
    original_as_dict = FakeJobRun.as_dict

    def start_job_run(self, **kwargs):  # noqa: ANN001
        if ext.glue_start_throttles > 0:
            ext.glue_start_throttles -= 1
            raise ConcurrentRunsExceededException(f"Job with name {self.name} already running")
        run_id = original_start(self, **kwargs)
        arguments = {**self.default_arguments, **(kwargs.get("arguments") or {})}
        started = ext.clock.now()
        outcome = ext.glue_runner(self.name, arguments)
        timeout_minutes = kwargs.get("timeout") or self.timeout
        deadline = started + 60 * timeout_minutes if timeout_minutes else None
        ext._glue_runs[run_id] = (outcome, started, deadline)
        return run_id

    def status(self):  # noqa: ANN001
        if self.job_run_id not in ext._glue_runs:
            return original_status.fget(self)
        outcome, _, deadline = ext._glue_runs[self.job_run_id]
        if outcome.state == "RUNNING" and deadline is not None and ext.clock.now() >= deadline:
            return "TIMEOUT"
        return outcome.state

    def as_dict(self):  # noqa: ANN001
        result = original_as_dict(self)
        if self.job_run_id in ext._glue_runs:
            outcome, started, _ = ext._glue_runs[self.job_run_id]
            result["ExecutionTime"] = int(ext.clock.now() - started)
            if outcome.error_message:
                result["ErrorMessage"] = outcome.error_message
            elif result["JobRunState"] == "TIMEOUT":
                result["ErrorMessage"] = "the job run exceeded its timeout"
        return result

    original_pattern = StateTaskServiceGlue._eval_integration_pattern

    def eval_integration_pattern(self, env, resource_runtime_part, normalised_parameters, state_credentials):  # noqa: ANN001
        if self.resource.condition != ResourceCondition.Sync:
            return original_pattern(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        # moto's shared implementation ends with `callback_endpoint.interrupt_all()`, but .sync has no
        # callback endpoint (None): poll GetJobRun until the run ends, as Step Functions does.
        resolver = self._build_sync_resolver(
            env=env,
            resource_runtime_part=resource_runtime_part,
            normalised_parameters=normalised_parameters,
            state_credentials=state_credentials,
        )
        job_run = self._eval_sync(
            env=env,
            sync_resolver=resolver,
            timeout_seconds=None,
            callback_endpoint=None,
            heartbeat_endpoint=None,
        )
        # boto3 parsed the run's timestamps into datetimes; Step Functions outputs them as epoch millis.
        env.stack.append(json.loads(json.dumps(job_run, default=lambda d: int(d.timestamp() * 1000))))

    return [
        patch.object(FakeJob, "start_job_run", start_job_run),
        patch.object(FakeJobRun, "status", property(status, original_status.fset)),
        patch.object(FakeJobRun, "as_dict", as_dict),
        patch.object(StateTaskServiceGlue, "_eval_integration_pattern", eval_integration_pattern),
    ]


# --- 4. Simulated time --------------------------------------------------------------------------


class _SimTime:
    """Stands in for the `time` module where moto sleeps; everything but sleep is the real one."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _clock_patches(ext: Extensions) -> list[Any]:
    def wait_interval(self, env, wait_seconds):  # noqa: ANN001
        if env.is_running():
            ext.clock.advance(wait_seconds)

    return [
        patch.object(WaitFunction, "_wait_interval", wait_interval),
        patch.object(retrier_decl, "time", _SimTime(ext.clock.advance)),
        patch.object(state_task_service_callback, "time", _SimTime(lambda _: ext.clock.advance(SYNC_POLL_SECONDS))),
    ]


# --- 5. Personalize: the local service behind moto's responses ----------------------------------


def _personalize_patches(ext: Extensions) -> list[Any]:
    from recflow.personalize_local.service import LocalPersonalize, PersonalizeError

    def responder(action: str) -> Callable[[PersonalizeResponse], str]:
        def respond(self: PersonalizeResponse) -> str:
            service = ext.personalize(self.current_account, self.region)
            try:
                return json.dumps(service.handle(action, json.loads(self.body or "{}")))
            except PersonalizeError as error:
                raise JsonRESTError(error.code, error.message) from error

        return respond

    return [
        patch.object(PersonalizeResponse, camelcase_to_underscores(action), responder(action), create=True)
        for action in LocalPersonalize.ACTIONS
    ]
