"""Everything recflow adds to moto to run the pipeline offline, in one place.

moto (pinned in pyproject.toml) executes the real state machine, but out of the box it cannot:
1. run a Lambda function's real code without Docker (its simple backend only echoes),
2. deliver EventBridge events to Lambda targets as Lambda's async invoke does (retries, then the function's
   dead-letter queue) and to Step Functions targets, emit Step Functions' "Execution Status Change" events
   when an execution ends, and start a state machine more than once,
3. run a Glue job's script, or finish `glue:startJobRun.sync` (it crashes on a missing callback endpoint),
4. let Wait states, retry intervals and .sync polls pass on a simulated clock instead of real time,
5. serve Personalize beyond the schema calls (the actions the local service lacks answer like AWS
   does for an unknown operation, in JSON, instead of moto server's HTML 500), and personalize-runtime,
6. deploy the types its CloudFormation lacks or mishandles (recflow/offline/deployers.py), attach AWS
   managed policies, and read a bucket policy's conditions as AWS does,
7. answer, as a server, an action it does not implement with an error clients can parse (not HTML).
Section 11 decodes S3's aws-chunked uploads in linear time (moto's takes seconds per 100 MB), and section 12
pages GetExecutionHistory as Step Functions does (moto serialises the whole history on every call).
Section 9 makes the run fail where AWS would: a Lambda invocation over its MemorySize or Timeout, a state
payload over 256 KiB (`extended_moto()` applies it; tests/unit/offline/test_limits_moto.py).

`extended_moto()` patches the first five for the duration of a `with` block; `cloudformation_deployers()`,
`add_aws_managed_policies()` and `bucket_policy_conditions_as_aws()` do the sixth, and
`backend_app_with_aws_errors` (moto server's app factory) the seventh. Each has a test in
tests/unit/offline/test_moto_extensions.py (the seventh in test_server.py, over HTTP), so a moto upgrade
that breaks one fails loudly. Every entry point first checks that moto is the pinned version and that
every moto function recflow patches or calls still has the parameters it expects (section 8, `MOTO_SEAMS`).
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.metadata
import inspect
import io
import json
import logging
import os
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast
from unittest.mock import patch
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError
from moto.core.utils import camelcase_to_underscores
from moto.events.models import Rule
from moto.events.utils import EventMessageType
from moto.glue.exceptions import ConcurrentRunsExceededException
from moto.glue.models import FakeJob, FakeJobRun
from moto.personalize.responses import PersonalizeResponse
from moto.s3.responses import S3Response
from moto.stepfunctions.parser import models
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

from recflow.offline import aws_errors, limits
from recflow.offline.authorization import (
    EVENTS,
    GLUE,
    LAMBDA,
    STATES,
    AccessDenied,
    Authority,
    HttpCall,
    Principal,
    UnknownResource,
    requests_of,
)
from recflow.offline.clock import SimClock, WallClock
from recflow.offline.environ import environment
from recflow.personalize_local.backend import BackendFactory, PersonalizeBackend

if TYPE_CHECKING:
    from flask import Flask

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
    personalize_factory: BackendFactory
    glue_start_throttles: int = 0  # ConcurrentRunsExceeded answers before a Glue run starts
    trigger_errors: list[str] = field(default_factory=list)
    _personalize: dict[tuple[str, str], PersonalizeBackend] = field(default_factory=dict)
    _glue_runs: dict[str, tuple[GlueOutcome, float, float | None]] = field(default_factory=dict)
    _lambda_lock: threading.RLock = field(default_factory=threading.RLock)
    # Execution status change events being delivered (section 2): a run is over once this is back to 0.
    _deliveries: int = 0
    _deliveries_done: threading.Condition = field(default_factory=threading.Condition)
    lambda_invocations: list[limits.Invocation] = field(default_factory=list)  # section 9

    def wait_for_deliveries(self, timeout: float) -> bool:
        """Wait until no execution's end event is being delivered; False if some still are after `timeout`."""
        with self._deliveries_done:
            return self._deliveries_done.wait_for(lambda: self._deliveries == 0, timeout)

    def personalize(self, account: str, region: str) -> PersonalizeBackend:
        key = (account, region)
        if key not in self._personalize:
            self._personalize[key] = self.personalize_factory(account, region, moto_schema_text)
        return self._personalize[key]


@contextmanager
def extended_moto(
    clock: SimClock | WallClock,
    glue_runner: GlueRunner,
    personalize_factory: BackendFactory,
    glue_start_throttles: int = 0,
) -> Iterator[Extensions]:
    """Patch moto for offline runs. Use inside `mock_aws(...)` (or around a moto server)."""
    check_moto()
    ext = Extensions(clock, glue_runner, personalize_factory, glue_start_throttles)
    with ExitStack() as stack:
        for patcher in (
            *_lambda_patches(ext),
            *_eventbridge_patches(ext),
            *_execution_patches(),
            *_status_change_patches(ext),
            *_glue_patches(ext),
            *_clock_patches(ext),
            *_personalize_patches(ext),
            *_personalize_runtime_patches(ext),
            *_limit_patches(ext),
            *_s3_patches(),
            *_history_patches(),
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
    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, Any],
    ) -> bytes:
        fn = self.get_function(function_name, qualifier)
        module_name, _, attr = str(fn.handler).rpartition(".")
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

    # moto's functions drop DeadLetterConfig: keep it (section 2 sends failed async events there) and show it.
    original_init, original_configuration = LambdaFunction.__init__, LambdaFunction.get_configuration

    def init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.dead_letter_config = spec.get("DeadLetterConfig")  # type: ignore[attr-defined]

    def get_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
        configuration: dict[str, Any] = original_configuration(self, *args, **kwargs)
        dead_letter_config = getattr(self, "dead_letter_config", None)
        if dead_letter_config:
            configuration["DeadLetterConfig"] = dead_letter_config
        return configuration

    return [
        patch.object(LambdaSimpleBackend, "invoke", invoke),
        patch.object(LambdaFunction, "__init__", init),
        patch.object(LambdaFunction, "get_configuration", get_configuration),
    ]


# --- 2. EventBridge: deliver to Lambda and Step Functions targets --------------------------------------------------


# Lambda's asynchronous invocation (how EventBridge invokes): an invocation whose function errs is tried
# twice more, then the event goes to the function's dead-letter queue with the error in its attributes.
ASYNC_ATTEMPTS = 3
STATUS_CHANGE = "Step Functions Execution Status Change"


def _eventbridge_patches(ext: Extensions) -> list[Any]:
    original = Rule.send_to_targets
    delivered = {"lambda", "states"}

    def send_to_targets(self: Rule, original_event: EventMessageType, transform_input: bool = True) -> None:
        if self.state != "ENABLED" or self.event_pattern is None or not self.event_pattern._pattern:
            return  # moto offers every event to every rule; disabled and schedule-only rules match none
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service in delivered]
        if len(ours) < len(self.targets):
            with patch.object(self, "targets", [t for t in self.targets if t not in ours]):
                original(self, original_event, transform_input)
        if not ours or not self.event_pattern.matches_event(original_event):
            return
        event: dict[str, Any] = dict(original_event)
        if isinstance(event.get("time"), int | float):  # moto keeps epoch seconds; AWS sends ISO 8601
            event["time"] = datetime.fromtimestamp(event["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for target in ours:
            arn = parse_arn(target["Arn"])
            if arn.service == "states":  # EventBridge names the execution itself
                boto3.client("stepfunctions", region_name=arn.region).start_execution(
                    stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=json.dumps(event)
                )
                continue
            _invoke_async(ext, target["Arn"], arn.region, event)

    return [patch.object(Rule, "send_to_targets", send_to_targets)]


def _invoke_async(ext: Extensions, function_arn: str, region: str, event: dict[str, Any]) -> None:
    client = boto3.client("lambda", region_name=region)
    payload = json.dumps(event)
    for _ in range(ASYNC_ATTEMPTS):
        reply = client.invoke(FunctionName=function_arn, Payload=payload.encode())
        if not reply.get("FunctionError"):
            return
        error = json.loads(reply["Payload"].read())
    # S3 notifications swallow errors: keep them for the runtime
    ext.trigger_errors.append(f"{error['errorType']}: {error['errorMessage']}")
    request_id = reply.get("ResponseMetadata", {}).get("RequestId", "")
    _dead_letter(function_arn, region, payload, request_id, error)


def _dead_letter(function_arn: str, region: str, payload: str, request_id: str, error: dict[str, Any]) -> None:
    """Send the event to the function's dead-letter queue as Lambda does (the body is the event itself)."""
    from moto.awslambda.utils import get_backend
    from moto.sqs.models import sqs_backends

    account = parse_arn(function_arn).account
    target = getattr(get_backend(account, region).get_function(function_arn), "dead_letter_config", {})
    queue_arn = (target or {}).get("TargetArn")
    if not queue_arn:
        return
    attributes = {
        "RequestID": {"DataType": "String", "StringValue": request_id or str(uuid.uuid4())},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": f"{error['errorType']}: {error['errorMessage']}"[:1024]},
    }
    queue = parse_arn(queue_arn)
    sqs_backends[queue.account][queue.region].send_message(
        queue_name=queue.resource_id, message_body=payload, message_attributes=attributes
    )


class _CopyKeepingExecutions:
    """Stands in for the `copy` module in moto's Step Functions backend. StartExecution deep-copies the
    state machine with its earlier executions, whose interpreter holds an RLock, so every execution after
    the first answered HTTP 500. The copy shares the earlier executions instead: they are history."""

    @staticmethod
    def deepcopy(machine: Any, memo: dict[int, Any] | None = None) -> Any:
        memo = {} if memo is None else memo
        for execution in getattr(machine, "executions", []):
            memo[id(execution)] = execution  # deepcopy answers a memoised object with itself
        return copy.deepcopy(machine, memo)


def _execution_patches() -> list[Any]:
    return [patch.object(models, "copy", _CopyKeepingExecutions)]


def _status_change_patches(ext: Extensions) -> list[Any]:
    """Step Functions puts a "Step Functions Execution Status Change" event on the default bus when an
    execution ends; moto does not. Delivered from the execution's thread once its status is set."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)
        with ext._deliveries_done:
            ext._deliveries += 1
        try:
            _put_status_change(self.execution)
        except Exception as error:  # EventBridge is asynchronous: nothing reaches the execution
            ext.trigger_errors.append(f"the end event of {self.execution.exec_arn} was not delivered: {error}")
        finally:
            with ext._deliveries_done:
                ext._deliveries -= 1
                ext._deliveries_done.notify_all()

    return [patch.object(BaseExecutionWorkerCommunication, "terminated", terminated)]


def status_change_event(execution: Any) -> dict[str, Any]:
    """The event AWS puts on the default bus for a moto execution that ended (epoch milliseconds, as AWS)."""

    def millis(moment: datetime | None) -> int | None:
        return None if moment is None else int(moment.timestamp() * 1000)

    status = execution.exec_status.value
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": STATUS_CHANGE,
        "source": "aws.states",
        "account": execution.account_id,
        "time": time.time(),
        "region": execution.region_name,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": execution.name,
            "status": status,
            "startDate": millis(execution.start_date),
            "stopDate": millis(execution.stop_date),
            "input": execution.input_data
            if isinstance(execution.input_data, str)
            else json.dumps(execution.input_data),
            "output": None if execution.output is None else json.dumps(execution.output),
            "inputDetails": {"included": True},
            "outputDetails": None if execution.output is None else {"included": True},
            "error": execution.error,
            "cause": execution.cause,
        },
    }


def _put_status_change(execution: Any) -> None:
    from moto.events.models import events_backends

    event = status_change_event(execution)
    bus = events_backends[execution.account_id][execution.region_name].event_buses.get("default")
    for rule in list(bus.rules.values()) if bus is not None else []:
        rule.send_to_targets(cast(EventMessageType, event), transform_input=False)


# --- 3. Glue: run the job, finish .sync ---------------------------------------------------------


def _glue_patches(ext: Extensions) -> list[Any]:
    original_start = FakeJob.start_job_run
    original_status = cast(property, inspect.getattr_static(FakeJobRun, "status"))
    original_status_of = cast(Callable[[FakeJobRun], str | None], original_status.fget)
    original_as_dict = FakeJobRun.as_dict

    def start_job_run(self: FakeJob, **kwargs: Any) -> str:
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

    def status(self: FakeJobRun) -> str | None:
        if self.job_run_id not in ext._glue_runs:
            return original_status_of(self)
        outcome, _, deadline = ext._glue_runs[self.job_run_id]
        if outcome.state == "RUNNING" and deadline is not None and ext.clock.now() >= deadline:
            return "TIMEOUT"
        return outcome.state

    def as_dict(self: FakeJobRun) -> dict[str, Any]:
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

    def eval_integration_pattern(
        self: StateTaskServiceGlue,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
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
    def wait_interval(self: WaitFunction, env: Any, wait_seconds: float) -> None:
        if env.is_running():
            ext.clock.advance(wait_seconds)

    return [
        patch.object(WaitFunction, "_wait_interval", wait_interval),
        patch.object(retrier_decl, "time", _SimTime(ext.clock.advance)),
        patch.object(state_task_service_callback, "time", _SimTime(lambda _: ext.clock.advance(SYNC_POLL_SECONDS))),
    ]


# --- 5. Personalize: the local service behind moto's responses ----------------------------------


def moto_schema_text(schema_arn: str) -> str | None:
    """The local service's SchemaLookup: the Avro text moto's CreateSchema stored, None when unknown.

    moto's Personalize backend lives in the same process under `mock_aws` and inside moto server.
    """
    from moto.personalize.models import personalize_backends

    parts = schema_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("schema/"):
        return None
    region, account = parts[3], parts[4]
    try:
        schema = personalize_backends[account][region].schemas.get(schema_arn)
    except KeyError:  # a region moto does not know
        return None
    if schema is None:
        return None
    text: Any = schema.schema  # moto keeps what CreateSchema received: the Avro JSON string
    return text if isinstance(text, str) else json.dumps(text)


def _personalize_patches(ext: Extensions) -> list[Any]:
    from recflow.personalize_local.errors import PersonalizeError
    from recflow.personalize_local.responses import PersonalizeResponses, unknown_operation

    def responder(action: str) -> Callable[[PersonalizeResponse], str]:
        def respond(self: PersonalizeResponse) -> str:
            api = PersonalizeResponses(ext.personalize(self.current_account, self.region))
            try:
                return json.dumps(api.handle(action, json.loads(self.body or "{}")))
            except PersonalizeError as error:
                raise JsonRESTError(error.code, error.message) from error

        return respond

    original_call_action = PersonalizeResponse.call_action

    def call_action(self: PersonalizeResponse) -> Any:
        # moto raises NotImplementedError for an action it has no method for, which moto server answers
        # with an HTML 500 that boto3 retries; AWS answers an unknown operation with a JSON 400.
        try:
            return original_call_action(self)
        except NotImplementedError:
            error = unknown_operation(self._get_action())
            raise JsonRESTError(error.code, error.message) from None

    return [
        patch.object(PersonalizeResponse, "call_action", call_action),
        *(
            patch.object(PersonalizeResponse, camelcase_to_underscores(action), responder(action), create=True)
            for action in PersonalizeResponses.ACTIONS
        ),
    ]


# personalize-runtime signs as "personalize" and answers on personalize-runtime.<region>.amazonaws.com: in process,
# its host must lead to the Personalize backend; in moto server (which picks the service from the credential
# scope), its paths must be routes of the Personalize app. Either way PersonalizeResponse then names the action
# from the path (the IAM check asks for personalize:GetRecommendations) and the local runtime answers it.
PERSONALIZE_RUNTIME_URL = r"https?://personalize-runtime\.(.+)\.amazonaws\.com"


def _personalize_runtime_patches(ext: Extensions) -> list[Any]:
    from moto import backend_index
    from moto.personalize import urls

    from recflow.personalize_local.errors import PersonalizeError
    from recflow.personalize_local.runtime import PATHS, PersonalizeRuntime, http_status

    def responder(action: str) -> Callable[[PersonalizeResponse], str]:
        def respond(self: PersonalizeResponse) -> str:
            api = PersonalizeRuntime(ext.personalize(self.current_account, self.region))
            try:
                return json.dumps(api.handle(action, json.loads(self.body or "{}")))
            except PersonalizeError as error:
                answer = JsonRESTError(error.code, error.message)
                answer.code = http_status(error.code)
                raise answer from error

        return respond

    original_get_action = PersonalizeResponse._get_action

    def get_action(self: PersonalizeResponse) -> str:
        return PATHS.get(urlparse(self.uri).path.rstrip("/")) or original_get_action(self)

    return [
        patch.object(urls, "url_bases", [*urls.url_bases, PERSONALIZE_RUNTIME_URL]),
        patch.dict(urls.url_paths, {f"{{0}}{path}$": PersonalizeResponse.dispatch for path in PATHS}),
        patch.object(
            backend_index,
            "backend_url_patterns",
            [*backend_index.backend_url_patterns, ("personalize", re.compile(PERSONALIZE_RUNTIME_URL))],
        ),
        patch.object(PersonalizeResponse, "_get_action", get_action),
        *(
            patch.object(PersonalizeResponse, camelcase_to_underscores(action), responder(action), create=True)
            for action in PersonalizeRuntime.ACTIONS
        ),
    ]


# --- 6. CloudFormation: recflow's deployers by resource type, AWS managed policies -------------
# moto's CloudFormation (create_stack) resolves intrinsics, Conditions and DependsOn, creates resources
# lazily in dependency order and answers describe_stacks with Outputs. Its resource classes drop
# properties the pipeline relies on (a bucket's EventBridge notifications, a role's managed policies, a
# state machine's DefinitionS3Location), put Lambda functions where a Docker-less moto never looks, and
# lack the Personalize and Glue types: for those types recflow's deployers answer instead.

# Every moto internal this section replaces or writes to is listed in MOTO_SEAMS (section 7).


@dataclass(frozen=True)
class ResourceRequest:
    """One resource of the stack to create, update or delete, its intrinsics already resolved by moto."""

    logical_id: str
    resource_type: str
    properties: dict[str, Any]
    generated_name: str  # the physical name CloudFormation makes up when the template names none
    stack_id: str
    account_id: str
    region: str
    request_type: Literal["Create", "Update", "Delete"] = "Create"
    physical_id: str | None = None  # Update and Delete: the resource's current physical id
    old_properties: dict[str, Any] | None = None  # Update: the properties it was created or last updated with


@dataclass(frozen=True)
class Deployed:
    """What `!Ref` (physical_id) and `!GetAtt` (attributes) answer for a created resource."""

    physical_id: str
    attributes: dict[str, str] = field(default_factory=dict)


Deployer = Callable[[ResourceRequest], Deployed]


@dataclass(frozen=True)
class AwsManagedPolicy:
    name: str
    path: str
    default_version_id: str
    document: dict[str, Any]


class _DeployedResource:
    """Stands in for a moto CloudFormationModel. Not a subclass: moto builds its type map from the
    subclasses once (lru_cache), and these must not outlive the deployment."""

    def __init__(self, deployed: Deployed, request: ResourceRequest, deploy: Deployer) -> None:
        self.deployed = deployed
        self.request = request
        self.type = request.resource_type
        self._deploy = deploy

    def delete(self, account_id: str, region_name: str) -> None:
        """moto's ResourceMap deletes a resource through this (stack deletion, rollback): a Delete request
        to the deployer of the `cloudformation_deployers` block in force, else to the one that created it."""
        deploy = _deployers_in_force.get(self.type, self._deploy)
        deploy(replace(self.request, request_type="Delete", physical_id=self.physical_resource_id))

    @property
    def physical_resource_id(self) -> str:
        return self.deployed.physical_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self.deployed.attributes:
            raise UnformattedGetAttTemplateException()
        return self.deployed.attributes[attribute_name]

    def is_created(self) -> bool:
        return True


def _resource_class(resource_type: str, deploy: Deployer) -> type:
    class Resource(_DeployedResource):
        @staticmethod
        def cloudformation_type() -> str:
            return resource_type

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return True  # the deployer knows its attributes; an unknown one fails when it is read

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Resource:
            request = ResourceRequest(
                logical_id=kwargs["LogicalId"],
                resource_type=resource_type,
                properties=cloudformation_json.get("Properties", {}),
                generated_name=resource_name,
                stack_id=kwargs["StackId"],
                account_id=account_id,
                region=region_name,
            )
            return cls(deploy(request), request, deploy)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: _DeployedResource,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> Resource:
            old = original_resource.request
            request = replace(
                old,
                properties=cloudformation_json.get("Properties", {}),
                request_type="Update",
                physical_id=original_resource.physical_resource_id,
                old_properties=old.properties,
            )
            return cls(deploy(request), request, deploy)

    return Resource


_deployers_in_force: dict[str, Deployer] = {}


@contextmanager
def cloudformation_deployers(deployers: Mapping[str, Deployer]) -> Iterator[None]:
    """While the block runs, moto's CloudFormation creates, updates and deletes the `deployers`' types with
    them (a ResourceRequest of request_type Create, Update or Delete)."""
    check_moto()
    from moto.cloudformation import parsing

    classes = {resource_type: _resource_class(resource_type, deploy) for resource_type, deploy in deployers.items()}
    original = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        return classes.get(resource_type) or original(resource_type)

    def references(template: Any) -> list[str]:
        """moto updates, on a parameter change, the resources that `Ref` it; CloudFormation also those whose
        `Fn::Sub` strings name it."""
        return [*original_references(template), *_names_in_subs(template)]

    original_references = parsing.get_references_from_template
    with (
        patch.object(parsing, "resource_class_from_type", resource_class_from_type),
        patch.object(parsing, "get_references_from_template", references),
        patch.dict(_deployers_in_force, deployers),
    ):
        yield


def _names_in_subs(template: Any) -> list[str]:
    if isinstance(template, list):
        return [name for item in template for name in _names_in_subs(item)]
    if not isinstance(template, dict):
        return []
    names = [name for value in template.values() for name in _names_in_subs(value)]
    sub = template.get("Fn::Sub")
    text = sub[0] if isinstance(sub, list) else sub
    return names + (re.findall(r"\$\{(\w+)\}", text) if isinstance(text, str) else [])


def roll_back_failed_create(stack_name: str, account_id: str, region: str) -> str:
    """What CloudFormation does after a resource failed to create: delete those created (each through its
    deployer), then ROLLBACK_COMPLETE, or ROLLBACK_FAILED when a delete keeps failing. Returns the status.

    moto's create_stack leaves a failed stack CREATE_IN_PROGRESS with what it created so far."""
    check_moto()
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import OutputMap

    backend = cloudformation_backends[account_id][region]
    (stack,) = [stack for stack in backend.stacks.values() if stack.name == stack_name]
    stack.status = "ROLLBACK_IN_PROGRESS"
    try:
        stack.resource_map.delete()  # retries a failed delete while others still succeed, then raises
    except Exception:
        stack.status = "ROLLBACK_FAILED"
        raise
    # moto's ResourceMap creates a resource it is asked for that it lacks: ListStackResources (and the
    # Outputs that name resources) would create them all again. A rolled-back stack has neither.
    stack.resource_map._resource_json_map = {}
    stack.output_map = OutputMap(stack.resource_map, {"Outputs": {}}, stack.stack_id)
    stack.status = "ROLLBACK_COMPLETE"
    return str(stack.status)


def add_aws_managed_policies(account_id: str, region: str, policies: Iterable[AwsManagedPolicy]) -> None:
    """Make AWS managed policies attachable in moto's IAM without loading all ~1,500 (2 s) of them."""
    check_moto()
    from moto.iam.models import AWSManagedPolicy, iam_backends
    from moto.utilities.utils import get_partition

    backend = iam_backends[account_id][get_partition(region)]
    for policy in policies:
        moto_policy = AWSManagedPolicy.from_data(
            policy.name,
            account_id,
            region,
            {
                "DefaultVersionId": policy.default_version_id,
                "Path": policy.path,
                "Document": policy.document,
                "CreateDate": "2015-04-09T15:03:43+00:00",
                "UpdateDate": "2015-04-09T15:03:43+00:00",
            },
        )
        backend.managed_policies.setdefault(moto_policy.arn, moto_policy)


@contextmanager
def bucket_policy_conditions_as_aws() -> Iterator[None]:
    """Bucket policy statements whose conditions do not hold do not apply, as in IAM.

    moto evaluates a bucket policy without the request's context and, for a statement with a Condition,
    answers DENIED whenever the condition is not verified, whatever its Effect; so the template's
    "Deny s3:* unless aws:SecureTransport" would refuse every request. In IAM a condition operator on a key
    the request does not carry is false (except ...IfExists operators and Null), and a statement whose
    condition is false does not apply. moto passes no request keys, so conditional statements drop out.
    """
    check_moto()
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
        applicable = [s for s in statements if _condition_holds(s.get("Condition") or {}, context={})]
        return IAMPolicy(json.dumps({**document, "Statement": applicable})).is_action_permitted(action, resource)

    with patch.object(FakeBucket, "get_permission", get_permission):
        yield


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    from moto.iam.policy_conditions import TrustRelationShipConditions

    for operator, keys in condition.items():
        if not operator.endswith("IfExists") and operator != "Null" and any(key not in context for key in keys):
            return False
    return all(
        c.verify_condition([context[k] for k in c.context_keys if k in context])
        for c in TrustRelationShipConditions(condition)
    )


# --- 7. moto server: AWS-shaped errors instead of HTML pages ----------------------------------------
# moto server builds one Flask app per service (create_backend_app). Flask hands what a view raises, and a
# request no route matches (404, 405), to the app's error handlers with the request still at hand; moto
# answers its own AWS errors inside the view, so what reaches them is what moto cannot answer.


def backend_app_with_aws_errors(service: str | None) -> Flask:
    """moto server's app for `service` (the factory DomainDispatcherApplication takes), answering an action
    moto does not implement (501) or one that raises (500, also logged) in the service's protocol.
    moto routes a request for a service it has no backend for to `None`: that app has no routes at all."""
    check_moto()
    import flask
    from flask import request
    from moto.moto_server.werkzeug_app import create_backend_app
    from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

    app = create_backend_app(cast(Any, service)) if service is not None else flask.Flask("moto")

    def answer(error: Exception) -> Any:
        unrouted = isinstance(error, NotFound | MethodNotAllowed)
        if isinstance(error, HTTPException) and not unrouted:
            return error  # redirects and the like, as Flask renders them
        call = aws_errors.HttpRequest(
            request.method,
            request.path,
            request.args.to_dict(flat=False),
            {name.lower(): value for name, value in request.headers.items()},
            request.form.to_dict(flat=False),
        )
        if unrouted or isinstance(error, NotImplementedError):
            detail = None if unrouted or _GENERIC_NOT_IMPLEMENTED.fullmatch(str(error)) else str(error)
            found = aws_errors.not_implemented(service, call, detail)
        else:
            found = aws_errors.failed(service, call, error)
            logging.getLogger(__name__).warning("%s", found.message)  # one line: the server's output stays readable
        return flask.Response(found.body, found.status, found.headers)

    app.register_error_handler(Exception, answer)
    return app


_GENERIC_NOT_IMPLEMENTED = re.compile(r"The \w+ action has not been implemented")  # moto's words for "no method"


# --- 8. The moto these extensions are written for ---------------------------------------------------
# Every moto internal patched, replaced or called above, with the parameters it has in the pinned moto.
# `check_moto()` runs on entering each entry point (extended_moto, cloudformation_deployers,
# add_aws_managed_policies, bucket_policy_conditions_as_aws, backend_app_with_aws_errors), so an upgrade
# that moves one fails at once with a sentence naming it, not later inside a state machine run.

MOTO_VERSION = "5.2.1"  # pyproject.toml pins moto to exactly this (tests/unit/offline/test_moto_extensions.py)


class MotoMismatch(RuntimeError):
    """The installed moto is not the one recflow's extensions are written for."""


@dataclass(frozen=True)
class Seam:
    """One moto internal an extension relies on: `module`'s `attribute` path, and its parameters
    (`None` for a module attribute that is replaced rather than called)."""

    extension: str
    module: str
    attribute: str
    parameters: str | None


MOTO_SEAMS: tuple[Seam, ...] = (
    Seam(
        "Lambda in-process invoke",
        "moto.awslambda_simple.models",
        "LambdaSimpleBackend.invoke",
        "(self, function_name, qualifier, body, headers, response_headers)",
    ),
    Seam(
        "EventBridge delivery",
        "moto.events.models",
        "Rule.send_to_targets",
        "(self, original_event, transform_input=True)",
    ),
    Seam("EventBridge delivery", "moto.events.models", "events_backends", None),
    Seam(
        "Lambda dead-letter queues",
        "moto.awslambda.models",
        "LambdaFunction.__init__",
        "(self, account_id, spec, region, version=1)",
    ),
    Seam(
        "Lambda dead-letter queues",
        "moto.awslambda.models",
        "LambdaFunction.get_configuration",
        "(self, on_create=False)",
    ),
    Seam(
        "Lambda dead-letter queues",
        "moto.sqs.models",
        "SQSBackend.send_message",
        "(self, queue_name, message_body, message_attributes=None, delay_seconds=None, deduplication_id=None, "
        "group_id=None, system_attributes=None, validate_group_id=True)",
    ),
    Seam(
        "Step Functions status change events",
        "moto.stepfunctions.parser.backend.execution",
        "BaseExecutionWorkerCommunication.terminated",
        "(self)",
    ),
    Seam(
        "repeated executions",
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend.start_execution",
        "(self, state_machine_arn, name=None, execution_input=None, trace_header=None)",
    ),
    Seam("repeated executions", "moto.stepfunctions.parser.models", "copy", None),
    Seam(
        "Glue job runs",
        "moto.glue.models",
        "FakeJob.start_job_run",
        "(self, allocated_capacity, max_capacity, timeout, worker_type, security_configuration, "
        "number_of_workers, notification_property, previous_run_id, arguments)",
    ),
    Seam("Glue job runs", "moto.glue.models", "FakeJobRun.status", "(self)"),
    Seam("Glue job runs", "moto.glue.models", "FakeJobRun.as_dict", "(self)"),
    Seam(
        "Glue .sync polling",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
        "StateTaskServiceGlue._eval_integration_pattern",
        "(self, env, resource_runtime_part, normalised_parameters, state_credentials)",
    ),
    Seam(
        "Glue .sync polling",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
        "StateTaskServiceGlue._build_sync_resolver",
        "(self, env, resource_runtime_part, normalised_parameters, state_credentials)",
    ),
    Seam(
        "Glue .sync polling",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
        "StateTaskServiceGlue._eval_sync",
        "(self, env, sync_resolver, timeout_seconds, callback_endpoint, heartbeat_endpoint)",
    ),
    Seam(
        "simulated Wait states",
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
        "WaitFunction._wait_interval",
        "(self, env, wait_seconds)",
    ),
    Seam(
        "simulated retry intervals", "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl", "time", None
    ),
    Seam(
        "simulated .sync polling",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
        "time",
        None,
    ),
    Seam("local Personalize", "moto.personalize.responses", "PersonalizeResponse.call_action", "(self)"),
    Seam("local Personalize schemas", "moto.personalize.models", "personalize_backends", None),
    Seam("local Personalize runtime", "moto.personalize.responses", "PersonalizeResponse._get_action", "(self)"),
    Seam("local Personalize runtime", "moto.personalize.urls", "url_bases", None),
    Seam("local Personalize runtime", "moto.personalize.urls", "url_paths", None),
    Seam("local Personalize runtime", "moto.backend_index", "backend_url_patterns", None),
    Seam(
        "CloudFormation deployers",
        "moto.cloudformation.parsing",
        "resource_class_from_type",
        "(resource_type)",
    ),
    Seam(
        "CloudFormation deployers",
        "moto.core.common_models",
        "CloudFormationModel.create_from_cloudformation_json",
        "(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)",
    ),
    Seam(
        "CloudFormation updates and deletes",
        "moto.core.common_models",
        "CloudFormationModel.update_from_cloudformation_json",
        "(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)",
    ),
    Seam(
        "CloudFormation updates and deletes",
        "moto.cloudformation.parsing",
        "ResourceMap._delete_resource",
        "(self, parsed_resource, resource_json)",
    ),
    Seam("CloudFormation updates and deletes", "moto.cloudformation.parsing", "ResourceMap.delete", "(self)"),
    Seam(
        "CloudFormation updates and deletes",
        "moto.cloudformation.parsing",
        "get_references_from_template",
        "(template)",
    ),
    Seam("CloudFormation rollback", "moto.cloudformation.models", "cloudformation_backends", None),
    Seam(
        "CloudFormation rollback",
        "moto.cloudformation.parsing",
        "OutputMap.__init__",
        "(self, resources, template, stack_id)",
    ),
    Seam(
        "AWS managed policies",
        "moto.iam.models",
        "AWSManagedPolicy.from_data",
        "(cls, name, account_id, region_name, data)",
    ),
    Seam("AWS managed policies", "moto.iam.models", "iam_backends", None),
    Seam("bucket policy conditions", "moto.s3.models", "FakeBucket.get_permission", "(self, action, resource)"),
    Seam(
        "bucket policy conditions",
        "moto.iam.access_control",
        "IAMPolicy.is_action_permitted",
        "(self, action, resource='*', principal=None, incoming_condition_values=None)",
    ),
    Seam(
        "bucket policy conditions",
        "moto.iam.policy_conditions",
        "TrustRelationShipConditions.__init__",
        "(self, conditions)",
    ),
    Seam(
        "bucket policy conditions",
        "moto.iam.policy_conditions",
        "TrustCondition.verify_condition",
        "(self, actual_values)",
    ),
    Seam("AWS-shaped errors", "moto.moto_server.werkzeug_app", "create_backend_app", "(service)"),
    Seam(
        "AWS-shaped errors",
        "moto.moto_server.werkzeug_app",
        "DomainDispatcherApplication.__init__",
        "(self, create_app)",
    ),
)


@functools.cache
def check_moto() -> None:
    """Raise MotoMismatch unless moto is the one pinned. Checked once per process, on the first entry,
    before any patch is in place (a patched attribute would show recflow's parameters, not moto's)."""
    problem = moto_mismatch()
    if problem is not None:
        raise MotoMismatch(problem)


def moto_mismatch() -> str | None:
    """One sentence naming the first seam that moved (or else the version that differs), None when none."""
    installed = importlib.metadata.version("moto")
    for seam in MOTO_SEAMS:
        found = _parameters_in_moto(seam)
        if found != seam.parameters:
            expected = f"{seam.attribute}{seam.parameters or ''}"
            has = f"{seam.attribute}{found}" if found else f"no {seam.module}.{seam.attribute}"
            return (
                f"recflow's moto extension '{seam.extension}' expects moto {MOTO_VERSION}'s {expected}; "
                f"moto {installed} has {has}; pin moto=={MOTO_VERSION}."
            )
    if installed != MOTO_VERSION:
        return (
            f"recflow's moto extensions are written for moto {MOTO_VERSION}, but moto {installed} is installed; "
            f"pin moto=={MOTO_VERSION}."
        )
    return None


_MISSING = object()


def _parameters_in_moto(seam: Seam) -> str | None:
    """The seam's parameters in the installed moto ("" when it is missing, None for a plain attribute)."""
    try:
        target: Any = importlib.import_module(seam.module)
    except ImportError:
        return ""
    for name in seam.attribute.split("."):
        # Class attributes as written: a property stays a property, a staticmethod a staticmethod.
        owner = target
        target = inspect.getattr_static(owner, name, _MISSING)
        if target is _MISSING:
            return ""
    if seam.parameters is None:
        return None
    if isinstance(target, property) and target.fget is not None:
        target = target.fget
    if isinstance(target, staticmethod | classmethod):
        target = target.__func__
    if not callable(target):
        return ""
    signature = inspect.signature(target)
    bare = signature.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    return str(bare)


# --- 9. AWS limits: Lambda memory and time, state payloads --------------------------------------------
# recflow/offline/limits.py measures; these patches fail what AWS would fail, where AWS would fail it:
# - an invocation over its function's MemorySize or Timeout answers Runtime.OutOfMemory or Sandbox.Timedout
#   (the Invoke payload's errorType, which Step Functions' Retry and Catch match);
# - AWS calls a handler makes (botocore's request/response exchange) are left out of its measure: moto and
#   the local Personalize do the services' work inside them, in this process;
# - a state's input after Parameters over 256 KiB fails with States.DataLimitExceeded inside the state, so
#   its Catch sees it (moto already checks task results and state outputs, not inputs);
# - `States.ALL` does not match States.DataLimitExceeded, as in Step Functions: only a Retry or Catch naming it.


def _limit_patches(ext: Extensions) -> list[Any]:
    from botocore.endpoint import Endpoint
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.parargs import Parargs

    limits.prefetch_runtime_baseline()

    def measured(in_process_invoke: Callable[..., Any]) -> Callable[..., bytes]:
        def invoke(
            self: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, Any],
        ) -> bytes:
            fn = self.get_function(function_name, qualifier)
            with ext._lambda_lock:  # one invocation at a time: the RSS meter sees the whole process
                _import_handler(str(fn.handler), fn.environment_vars)  # imports are in the runtime's baseline
                limits.runtime_baseline_mb()  # waits for the measurement, outside the invocation's time
                with limits.measured_invocation() as meter:
                    reply: bytes = in_process_invoke(self, function_name, qualifier, body, headers, response_headers)
                invocation = limits.measure(fn.function_name, int(fn.memory_size), int(fn.timeout), meter)
                error = invocation.limit_error()
                if error is not None:
                    response_headers["x-amz-function-error"] = "Unhandled"
                    reply = json.dumps(error).encode()
                if "x-amz-function-error" in response_headers:
                    invocation = replace(invocation, error_type=str(json.loads(reply).get("errorType", "Unhandled")))
                ext.lambda_invocations.append(invocation)
                return reply

        return invoke

    def left_out(get_response: Callable[..., Any]) -> Callable[..., Any]:
        def do_get_response(self: Endpoint, request: Any, operation_model: Any, context: Any) -> Any:
            with limits.aws_call():
                return get_response(self, request, operation_model, context)

        return do_get_response

    def input_checked(eval_body: Callable[[Parargs, Any], None]) -> Callable[[Parargs, Any], None]:
        def parargs_eval_body(self: Parargs, env: Any) -> None:
            eval_body(self, env)
            size = limits.payload_bytes(env.stack[-1])
            if size > limits.PAYLOAD_LIMIT_BYTES:
                state = env.states.context_object.context_object_data.get("State", {}).get("Name", "?")
                raise _data_limit_exceeded(
                    env,
                    f"The state/task '{state}' has an input of {size} bytes after Parameters, exceeding the "
                    f"maximum number of bytes service limit ({limits.PAYLOAD_LIMIT_BYTES}).",
                )

        return parargs_eval_body

    def all_but_data_limit(eval_body: Callable[[ErrorEqualsDecl, Any], None]) -> Callable[[ErrorEqualsDecl, Any], None]:
        def error_equals_eval_body(self: ErrorEqualsDecl, env: Any) -> None:
            if getattr(env.stack[-1], "error_name", None) == "States.DataLimitExceeded":
                env.stack.append(env.stack.pop() in self.error_names)  # named explicitly, or not matched
                return
            eval_body(self, env)

        return error_equals_eval_body

    return [
        _wrapping(LambdaSimpleBackend, "invoke", measured),  # around section 1's in-process invoke
        _wrapping(Endpoint, "_do_get_response", left_out),
        _wrapping(Parargs, "_eval_body", input_checked),
        _wrapping(ErrorEqualsDecl, "_eval_body", all_but_data_limit),
    ]


@contextmanager
def _wrapping(owner: type, name: str, wrap: Callable[[Any], Any]) -> Iterator[None]:
    """Patch `owner.name` with `wrap(what is there when the block is entered)`: extended_moto enters its
    patches in order, so a wrapper sees the patches entered before it (section 1's invoke), not moto's."""
    with patch.object(owner, name, wrap(getattr(owner, name))):
        yield


def _import_handler(handler: str, environment_vars: dict[str, str]) -> None:
    module_name = handler.rpartition(".")[0]
    # A failing import is not reported here: the invocation imports it again and answers the error as AWS does.
    with environment({**environment_vars}), suppress(Exception):
        importlib.import_module(module_name)


def _data_limit_exceeded(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error = StatesErrorNameType.StatesStatesDataLimitExceeded
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error),
            event_type=HistoryEventType.TaskFailed,
            event_details=cast(
                EventDetails, {"taskFailedEventDetails": TaskFailedEventDetails(error=error.to_name(), cause=cause)}
            ),
        )
    )


_LIMIT_SEAMS: tuple[Seam, ...] = (
    Seam(
        "Lambda limits",
        "moto.awslambda_simple.models",
        "LambdaSimpleBackend.get_function",
        "(self, function_name_or_arn, qualifier=None)",
    ),
    Seam(
        "Lambda limits: AWS calls left out (botocore)",
        "botocore.endpoint",
        "Endpoint._do_get_response",
        "(self, request, operation_model, context)",
    ),
    Seam(
        "state input payload limit",
        "moto.stepfunctions.parser.asl.component.common.parargs",
        "Parargs._eval_body",
        "(self, env)",
    ),
    Seam(
        "States.ALL and States.DataLimitExceeded",
        "moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl",
        "ErrorEqualsDecl._eval_body",
        "(self, env)",
    ),
    Seam(
        "state input payload limit",
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event",
        "FailureEvent.__init__",
        "(self, env, error_name, event_type, event_details=None)",
    ),
    Seam(
        "state input payload limit",
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event",
        "FailureEventException.__init__",
        "(self, failure_event)",
    ),
)
MOTO_SEAMS = (*MOTO_SEAMS, *_LIMIT_SEAMS)


# --- 10. IAM: every call authorized as the template's policies allow ----------------------------------
# moto authorizes each request in one place, ActionAuthenticatorMixin._authenticate_and_authorize_action
# (when INITIAL_NO_AUTH_ACTION_COUNT is reached), with moto's IAMRequest: it checks the signature against
# the credentials moto's STS issued, then evaluates identity policies on "*" for most services, without
# the request's condition keys, answering Deny for any statement whose Condition does not hold. recflow
# keeps moto's signature check and evaluates with recflow/offline/authorization.py instead (resource ARNs
# from the request, condition context, resource-based policies, iam:PassRole). The principals' credentials
# reach them as on AWS: a Lambda function's role in its environment while its handler runs, the state
# machine's role in the clients its tasks call with, the Glue job's role while the ETL runs, EventBridge as
# the service principal for the rule's targets. The operator's credentials (those in the environment when
# the block starts) are not checked: on AWS they are whoever deploys and uploads.


@contextmanager
def iam_enforced(ext: Extensions, authority: Authority) -> Iterator[None]:
    """Authorize every AWS call of the block as IAM would; `authority` records each decision."""
    check_moto()
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_glue
    from recflow_lambda import clients
    from recflow_lambda.clients import clear_clients

    operator = os.environ.get("AWS_ACCESS_KEY_ID", "")  # whoever enters the block: deploys, uploads, reads

    def authenticate_and_authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        _authorize(authority, operator, self, iam_request_cls, resource)

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return _state_machine_client(authority, region, service, state_credentials)

    def handler_client(service: str) -> Any:  # recflow_lambda.clients' maker: the function's credentials
        principal = authority.principal_of(os.environ.get("AWS_ACCESS_KEY_ID", ""))
        if principal is None:
            return own_client(service)
        return authority.client(service, principal, config=clients._CONFIG)

    own_client = clients._client
    outer_invoke = LambdaSimpleBackend.invoke  # sections 1 and 9's, already in place
    last_role: list[str] = []

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, Any],
    ) -> bytes:
        fn = self.get_function(function_name, qualifier)
        issued = authority.credentials(Principal(LAMBDA, str(fn.role), session=str(fn.function_name)))
        with ext._lambda_lock, environment(issued.environment()):
            if last_role != [fn.role]:  # the handlers' cached clients hold the previous function's credentials
                clear_clients()
                last_role[:] = [fn.role]
            return cast(bytes, outer_invoke(self, function_name, qualifier, body, headers, response_headers))

    outer_send = Rule.send_to_targets

    def send_to_targets(self: Rule, original_event: EventMessageType, transform_input: bool = True) -> None:
        issued = authority.credentials(Principal(EVENTS, source_arn=self.arn))
        with ext._lambda_lock, environment(issued.environment()), _default_session_from_environment():
            try:
                outer_send(self, original_event, transform_input)
            except ClientError as error:  # EventBridge keeps retrying, then drops the event: nothing raises
                ext.trigger_errors.append(f"EventBridge could not deliver to a target of rule {self.name}: {error}")

    glue_runner = ext.glue_runner

    def run_as_job_role(job_name: str, arguments: dict[str, str]) -> GlueOutcome:
        from moto.glue.models import glue_backends

        role = glue_backends[authority.account][authority.region].get_job(job_name).role
        try:
            issued = authority.credentials(Principal(GLUE, role, session="GlueJobRunnerSession"))
        except AccessDenied as denied:
            return GlueOutcome("FAILED", str(denied))
        with ext._lambda_lock, environment(issued.environment()), _default_session_from_environment():
            return glue_runner(job_name, arguments)

    ext.glue_runner = run_as_job_role
    try:
        with (
            patch.object(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authenticate_and_authorize),
            patch.object(lambda_eval_utils, "boto_client_for", client_for),
            patch.object(state_task_service_glue, "boto_client_for", client_for),
            patch.object(LambdaSimpleBackend, "invoke", invoke),
            patch.object(Rule, "send_to_targets", send_to_targets),
            patch.object(clients, "_client", handler_client),
        ):
            yield
    finally:
        ext.glue_runner = glue_runner
        clear_clients()  # none of the principals' credentials outlive the block


def _default_session_from_environment() -> Any:
    """`boto3.client` reads credentials once per default session: a fresh one for the block reads the
    principal's from the environment (section 2 and the Glue job make their clients with `boto3.client`)."""
    return patch.object(boto3, "DEFAULT_SESSION", None)


_JSON_SERVICES = frozenset({"personalize", "states", "glue", "lambda", "events", "logs"})


def _authorize(authority: Authority, operator: str, response: Any, iam_request_cls: type, resource: str) -> None:
    headers = response.headers
    scope = re.search(r"Credential=([^/,]+)/[^/]+/([^/]+)/([^/]+)/", headers.get("Authorization", ""))
    if scope is None or scope.group(1) == operator:
        return  # unsigned (a presigned URL, moto's own calls) or the operator
    access_key, region, service = scope.groups()
    principal = authority.principal_of(access_key)
    if principal is None:
        raise _denied(service, "InvalidClientTokenId", "The security token included in the request is invalid.")
    if principal.role_arn is not None:  # moto knows the session's secret: the signature must match
        url = urlparse(response.uri)
        path = url.path + (f"?{url.query}" if url.query else "")
        iam_request_cls(
            account_id=response.current_account,
            method=response.method,
            path=path,
            data=response.data,
            body=response.raw_body,
            headers=headers,
            action=response._get_action(),
        ).check_signature()
    call = HttpCall(
        service=service,
        operation=str(response.data.get("Action")) if service == "s3" else response._get_action(),
        method=response.method,
        uri=response.uri,
        body=response.raw_body if isinstance(response.raw_body, bytes) else str(response.raw_body or "").encode(),
        form=response.querystring,
        headers=headers,
        account=response.current_account,
        region=region,
        s3_resource=resource if service == "s3" else None,
    )
    try:
        authority.authorize(principal, requests_of(call))
    except (AccessDenied, UnknownResource) as denied:
        raise _denied(service, "AccessDenied", str(denied)) from None


def _denied(service: str, code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError
    from moto.s3.exceptions import S3ClientError

    if service == "s3":
        error = S3ClientError(code, message)
        error.code = code
        return error
    if service in _JSON_SERVICES:
        json_error = JsonRESTError(f"{code}Exception" if code == "AccessDenied" else code, message)
        json_error.code = 403
        return json_error
    from moto.core.exceptions import _RESTError

    xml_error = _RESTError("AuthorizationError" if service == "sns" else code, message)
    xml_error.code = 403
    return xml_error


def _state_machine_client(authority: Authority, region: str, service: str, state_credentials: Any) -> Any:
    """moto's boto_client_for with the state machine role's credentials instead of fixed ones."""
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    endpoint = {} if botocore_stubber.enabled else {"endpoint_url": f"http://localhost:{moto_server_port()}"}
    return authority.client(
        service,
        Principal(STATES, state_credentials.role_arn, session="StepFunctions"),
        region_name=region,
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        ),
        **endpoint,
    )


_IAM_SEAMS: tuple[Seam, ...] = (
    Seam(
        "IAM authorization",
        "moto.core.authorization",
        "ActionAuthenticatorMixin._authenticate_and_authorize_action",
        "(self, iam_request_cls, resource='*')",
    ),
    Seam(
        "IAM authorization",
        "moto.iam.access_control",
        "IAMRequestBase.__init__",
        "(self, account_id, method, path, data, body, headers, action)",
    ),
    Seam("IAM authorization", "moto.iam.access_control", "IAMRequestBase.check_signature", "(self)"),
    Seam(
        "IAM credentials",
        "moto.sts.models",
        "STSBackend.assume_role",
        "(self, region_name, role_session_name, role_arn, policy, duration, external_id)",
    ),
    Seam(
        "IAM: the state machine's role",
        "moto.stepfunctions.parser.asl.utils.boto_client",
        "boto_client_for",
        "(region, service, state_credentials=None)",
    ),
    Seam(
        "IAM: the state machine's role",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
        "boto_client_for",
        "(region, service, state_credentials=None)",
    ),
    Seam(
        "IAM: the state machine's role",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
        "boto_client_for",
        "(region, service, state_credentials=None)",
    ),
    # Not moto's, but replaced the same way: boto3's default session, the handlers' client maker.
    Seam("IAM: principals' clients", "boto3", "DEFAULT_SESSION", None),
    Seam("IAM: principals' clients", "recflow_lambda.clients", "_client", "(service)"),
)
MOTO_SEAMS = (*MOTO_SEAMS, *_IAM_SEAMS)


# --- 11. S3: aws-chunked uploads decoded in linear time -----------------------------------------------


def decode_aws_chunked(body: io.BufferedIOBase | bytes) -> bytes:
    """The data of an aws-chunked body (`<hex size>\\r\\n<data>\\r\\n` chunks up to a 0 size, then trailers):
    moto's S3Response._handle_encoded_body, joined once. moto appends each chunk to the bytes so far, which
    copies them every time: a 200 MB upload in botocore's 1 MB chunks took 11 s."""
    if not body:
        return b""
    stream = io.BytesIO(body) if isinstance(body, bytes) else body
    chunks = []
    size = int(stream.readline().strip(), 16)
    while size > 0:
        chunks.append(stream.read(size))
        stream.readline()  # the \r\n after the data
        size = int(stream.readline().strip(), 16)
    return b"".join(chunks)


def _s3_patches() -> list[Any]:
    return [patch.object(S3Response, "_handle_encoded_body", lambda self, body: decode_aws_chunked(body))]


_S3_SEAMS: tuple[Seam, ...] = (
    Seam("S3 aws-chunked uploads", "moto.s3.responses", "S3Response._handle_encoded_body", "(self, body)"),
)
MOTO_SEAMS = (*MOTO_SEAMS, *_S3_SEAMS)


# --- 12. Step Functions: GetExecutionHistory in pages -------------------------------------------------
# moto answers GetExecutionHistory with the whole history, oldest first, whatever maxResults, reverseOrder
# and nextToken say. Step Functions answers pages of maxResults events (100 by default, at most 1000) in the
# requested order. A client following a run reads its newest page every few tenths of a second: with the
# whole history serialised each time, following an 80-transition run cost 5 s of moto's serialiser.

HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX = 100, 1000


def execution_history_page(
    events: list[dict[str, Any]], max_results: int | None, reverse: bool, next_token: str | None
) -> dict[str, Any]:
    """One page of an execution's `events` (oldest first, ids 1, 2, ...), as Step Functions pages them. The
    token is the id of the page's last event, so a page read while the execution runs on neither skips nor
    repeats an event (an offset from the newest end would move with every new event)."""
    from moto.stepfunctions.exceptions import InvalidToken, ValidationException

    if max_results is not None and not 0 <= max_results <= HISTORY_PAGE_MAX:
        raise ValidationException(
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {HISTORY_PAGE_MAX}"
        )
    size = max_results or HISTORY_PAGE_DEFAULT
    ordered = events[::-1] if reverse else events
    start = 0
    if next_token is not None:
        after = int(next_token) if next_token.isdigit() else -1
        positions = [index for index, event in enumerate(ordered) if event["id"] == after]
        if not positions:
            raise InvalidToken(f"Invalid Token: '{next_token}'")
        start = positions[0] + 1
    page = ordered[start : start + size]
    more = start + size < len(ordered)
    return {"events": page, **({"nextToken": str(page[-1]["id"])} if more else {})}


def _history_patches() -> list[Any]:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.responses import StepFunctionResponse

    def get_event_history(self: EventManager) -> list[Any]:
        # moto deep-copies every event of the history on every call; events are never changed once
        # recorded, and a response only reads them: a copy of the list is enough.
        with self._mutex:
            return list(self._history_event_list)

    def get_execution_history(self: StepFunctionResponse) -> ActionResult:
        history = self.stepfunction_backend.get_execution_history(self._get_param("executionArn"))
        page = execution_history_page(
            list(history["events"]),
            self._get_int_param("maxResults"),
            bool(self._get_param("reverseOrder")),
            self._get_param("nextToken"),
        )
        return ActionResult(page)

    return [
        patch.object(StepFunctionResponse, "get_execution_history", get_execution_history),
        patch.object(EventManager, "get_event_history", get_event_history),
    ]


_HISTORY_SEAMS: tuple[Seam, ...] = (
    Seam(
        "execution history pages",
        "moto.stepfunctions.responses",
        "StepFunctionResponse.get_execution_history",
        "(self)",
    ),
    Seam(
        "execution history pages",
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend.get_execution_history",
        "(self, execution_arn)",
    ),
    Seam(
        "execution history pages",
        "moto.stepfunctions.parser.asl.eval.event.event_manager",
        "EventManager.get_event_history",
        "(self)",
    ),
)
MOTO_SEAMS = (*MOTO_SEAMS, *_HISTORY_SEAMS)
