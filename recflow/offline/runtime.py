"""Runs the real pipeline on this machine: template.yaml deployed into moto, the state machine executed
by moto, the handlers in-process, the Glue transform on DuckDB and Personalize served locally.

The stack is deployed from template.yaml as CloudFormation would deploy it (recflow/offline/stack.py), and
the run finds its bucket and state machine in the stack's Outputs. The run starts the way it does on AWS:
the raw file is put under raw/ and the template's EventBridge rule invokes the start_run function, which
starts the execution.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.core.config import DefaultConfig
from recflow_lambda.clients import clear_clients

from recflow.offline import lake
from recflow.offline.authorization import PERSONALIZE, Authority, Principal
from recflow.offline.clock import SimClock
from recflow.offline.environ import environment
from recflow.offline.glue_local import GlueLocal
from recflow.offline.iam_record import iam_record, write_iam_record
from recflow.offline.moto_extensions import (
    Extensions,
    bucket_policy_conditions_as_aws,
    extended_moto,
    iam_enforced,
)
from recflow.offline.stack import TEMPLATE, deploy_stack
from recflow.offline.summary import Summary, build_summary
from recflow.offline.template import ACCOUNT_ID, REGION, Template
from recflow.personalize_local.backend import backend_factory
from recflow.personalize_local.settings import PHASES as JOB_PHASES
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer
from recflow.progress import NO_PROGRESS, Progress

PHASES = ("etl", "import", "train", "batch")
OUTCOMES = ("fail", "stop", "stall", "throttle", "busy")
STACK_NAME = "recflow"


# How long a run's end event may take to reach start_run (it is delivered in-process; a follow-up run's
# start is part of it).
DELIVERY_SECONDS = 120.0


class OfflineRunError(Exception):
    """The offline run could not be set up or did not finish; the message says why."""


@dataclass
class RunRequest:
    raw_files: list[Path]
    lake: Path
    users_file: Path | None = None
    recipe: str = "aws-user-personalization-v2"
    min_rating: str = ""
    num_results: int = 25
    faults: dict[str, str] = field(default_factory=dict)
    job_seconds: dict[str, float] = field(default_factory=dict)
    # Real seconds each simulated second of waiting sleeps: none by default, a rehearsal need not sit
    # through Personalize's job times (the summary still reports them in simulated seconds).
    time_scale: float = 0.0
    parameters: dict[str, str] = field(default_factory=dict)
    template: Path = TEMPLATE  # another template.yaml (with functions/, statemachine/, glue/ beside it)
    # Upload every raw file as its own event, one after the other, as a user uploading a burst of files:
    # the first starts a run, the others wait for it and start one follow-up (functions/recflow_lambda/runs.py).
    # The run returned is the last one, once no run is in flight.
    upload_each: bool = False


def run(
    request: RunRequest, on_state: Callable[[str], None] = lambda _: None, progress: Progress = NO_PROGRESS
) -> Summary:
    """Run the pipeline once; returns the summary also written to <lake>/runs/<run-id>/summary.json.

    `on_state` hears each state entered; `progress` the ETL, training and scoring, from moto's execution
    thread (the jobs' work is done in the handlers' calls)."""
    _check(request)
    template = Template(request.template, _parameters(request))  # bad parameters fail before any setup
    clock = SimClock(scale=request.time_scale)
    started = time.perf_counter()
    with offline_environment(), mock_aws(config=_MOTO_CONFIG):
        clear_clients()  # the handlers' cached boto3 clients must be made inside this mock
        glue = GlueLocal(clock, fault=request.faults.get("etl"), progress=progress)
        # Validated by _check; pydantic checks the phase and fault names once more.
        settings = LocalSettings.model_validate(
            {"job_seconds": request.job_seconds, "faults": {p: o for p, o in request.faults.items() if p != "etl"}}
        )
        authority = Authority(ACCOUNT_ID, REGION)  # every call of the run is authorized as IAM would

        def personalize_s3(role_arn: str, job_arn: str) -> Any:  # Personalize acts as the role a job passes
            return authority.client("s3", Principal(PERSONALIZE, role_arn, source_arn=job_arn, session="personalize"))

        with (
            extended_moto(
                clock,
                glue.run,
                backend_factory(clock, _s3, default_trainer(progress), settings, s3_as_role=personalize_s3),
                glue_start_throttles=2 if request.faults.get("etl") == "throttle" else 0,
            ) as ext,
            bucket_policy_conditions_as_aws(),
            iam_enforced(ext, authority),
        ):
            s3, sfn = _s3(), _sfn()  # made now: made while a handler runs, a client takes its credentials
            stack = deploy_stack(STACK_NAME, template, clock, s3)
            bucket, state_machine = stack.output("DataBucketName"), stack.output("StateMachineArn")
            staged = _stage_inputs(request)
            # Uploaded as events: the last raw file, or each raw file with upload_each.
            count = len(request.raw_files) if request.upload_each else 1
            inputs, triggers = staged[:-count], staged[-count:]
            with rules_paused():  # on AWS the lake and the other inputs are in the bucket before the upload
                lake.upload(s3, bucket, lake.lake_objects(request.lake))
                in_lake = lake.etags(s3, bucket)
                lake.upload(s3, bucket, inputs)
            for trigger_key, trigger_path in triggers:  # the uploads that start the run(s)
                s3.upload_file(str(trigger_path), bucket, trigger_key)
            execution_arn = _started_execution(state_machine, ext, sfn)
            history = _follow(execution_arn, on_state, sfn)
            if request.upload_each:
                execution_arn = _last_run(state_machine, ext, sfn, execution_arn, on_state)
                history = _history(sfn, execution_arn)
            ext.wait_for_deliveries(DELIVERY_SECONDS)  # the run's end event reaches start_run before moto stops
            written = lake.download_new(s3, bucket, request.lake, in_lake)
            summary = build_summary(
                history=history,
                execution=sfn.describe_execution(executionArn=execution_arn),
                wall_seconds=time.perf_counter() - started,
                glue=glue,
                personalize=ext.personalize(ACCOUNT_ID, REGION),
                lake_keys=written,
                etl_report=_etl_report(request.lake, execution_arn.rsplit(":", 1)[1]),
                lambda_invocations=ext.lambda_invocations,
            )
            calls = iam_record(authority, stack)
    summary.write(request.lake)
    write_iam_record(request.lake, summary.run_id, calls)
    return summary


def _check(request: RunRequest) -> None:
    if not request.raw_files:
        raise OfflineRunError("give at least one raw interactions file (--raw FILE)")
    for path in [*request.raw_files, *([request.users_file] if request.users_file else [])]:
        if not path.is_file():
            raise OfflineRunError(f"{path} does not exist or is not a file")
    for phase, outcome in request.faults.items():
        if phase not in PHASES or outcome not in OUTCOMES or (phase, outcome) == ("etl", "busy"):
            raise OfflineRunError(
                f"unknown fault {phase}:{outcome}; PHASE is one of {', '.join(PHASES)} "
                f"and OUTCOME one of {', '.join(OUTCOMES)} (busy only in the Personalize phases)"
            )
    for phase, seconds in request.job_seconds.items():
        if phase not in JOB_PHASES or seconds < 0:
            raise OfflineRunError(
                f"--job-seconds takes PHASE=SECONDS with PHASE in {', '.join(JOB_PHASES)} "
                f"and SECONDS ≥ 0, not {phase}={seconds}"
            )
    if request.time_scale < 0:
        raise OfflineRunError("the time scale must be 0 or more")


def _parameters(request: RunRequest) -> dict[str, str]:
    params = {
        "Recipe": request.recipe,
        "MinRating": request.min_rating,
        "NumResults": str(request.num_results),
    }
    if request.users_file:
        params["BatchUsersKey"] = f"batch_users_input/{request.users_file.name}"
    return {**params, **request.parameters}


def _stage_inputs(request: RunRequest) -> list[tuple[str, Path]]:
    """(key, path) to upload: the users file first, the raw files last (the very last one triggers)."""
    users = [(f"batch_users_input/{request.users_file.name}", request.users_file)] if request.users_file else []
    return users + [(f"raw/{path.name}", path) for path in request.raw_files]


# --- the offline AWS the run happens in --------------------------------------------------------------

_MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


def offline_environment(overrides: dict[str, str | None] | None = None) -> AbstractContextManager[None]:
    """Offline credentials and region for the block: what the pipeline calls must stay on this machine.
    `recflow local serve` passes its endpoint as AWS_ENDPOINT_URL in `overrides`."""
    return environment(
        {
            "AWS_ACCESS_KEY_ID": "offline",
            "AWS_SECRET_ACCESS_KEY": "offline",
            "AWS_SESSION_TOKEN": "offline",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_PROFILE": None,  # a user's profile or endpoint must not send the run anywhere else
            "AWS_ENDPOINT_URL": None,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("RECFLOW_LOG_LEVEL", "WARNING"),
            # In process, moto reads a request body whole, and botocore builds a whole aws-chunked body (its
            # default for uploads) in quadratic time: 11 s for 200 MB. Checksums go only where required.
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            # A per-service endpoint (AWS_ENDPOINT_URL_S3 …) would win over AWS_ENDPOINT_URL.
            **{name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")},
            **(overrides or {}),
        }
    )


def _s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def _sfn() -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@contextmanager
def rules_paused() -> Iterator[None]:
    """Disable the stack's enabled EventBridge rules for the block: what it puts in S3 starts no run."""
    events = boto3.client("events", region_name=REGION)
    enabled = [rule["Name"] for rule in events.list_rules()["Rules"] if rule["State"] == "ENABLED"]
    for name in enabled:
        events.disable_rule(Name=name)
    try:
        yield
    finally:
        for name in enabled:
            events.enable_rule(Name=name)


def _etl_report(lake_dir: Path, run_id: str) -> dict[str, Any] | None:
    path = lake_dir / "transformed" / run_id / "report.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _started_execution(state_machine_arn: str, ext: Extensions, sfn: Any) -> str:
    if ext.trigger_errors:
        raise OfflineRunError(f"the upload did not start a run: {ext.trigger_errors[-1]}")
    executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
    if not executions:
        raise OfflineRunError("the upload did not start a run: the EventBridge rule matched no raw/ object")
    arn: str = max(executions, key=lambda e: e["startDate"])["executionArn"]
    return arn


def _last_run(state_machine_arn: str, ext: Extensions, sfn: Any, first: str, on_state: Callable[[str], None]) -> str:
    """Follow the runs the uploads started until none is in flight (a run's end event may start a follow-up
    run, from moto's execution thread); returns the last run's execution ARN."""
    followed = {first}
    while True:
        if not ext.wait_for_deliveries(DELIVERY_SECONDS):
            raise OfflineRunError(f"a run's end event was not handled within {DELIVERY_SECONDS} s")
        executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        running = [e["executionArn"] for e in executions if e["status"] == "RUNNING"]
        if not running:
            if (
                not ext.wait_for_deliveries(DELIVERY_SECONDS)
                or sfn.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING")["executions"]
            ):
                continue  # an end event being handled may just have started a follow-up
            latest: str = max(executions, key=lambda e: e["startDate"])["executionArn"]
            return latest
        for arn in running:
            _follow(arn, on_state if arn not in followed else (lambda _: None), sfn)
            followed.add(arn)


def _follow(execution_arn: str, on_state: Callable[[str], None], sfn: Any) -> list[dict[str, Any]]:
    """Wait for the execution to end, reporting each state as it is entered; returns the history."""
    seen = 0
    while sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
        seen = _report_new_states(sfn, execution_arn, seen, on_state)
        time.sleep(0.25)  # moto serialises the history slowly: polling it hard would slow the run itself
    _report_new_states(sfn, execution_arn, seen, on_state)
    return _history(sfn, execution_arn)


def _report_new_states(sfn: Any, execution_arn: str, seen: int, on_state: Callable[[str], None]) -> int:
    """Report the states entered since event id `seen`, reading the history newest first; returns the last id."""
    newest = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=1)["events"]
    if not newest or newest[0]["id"] <= seen:  # most polls: nothing new, and one event read to know it
        return seen
    new: list[dict[str, Any]] = []
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, reverseOrder=True, PaginationConfig={"PageSize": 10}
    )
    for page in pages:
        new += [event for event in page["events"] if event["id"] > seen]
        if any(event["id"] <= seen for event in page["events"]):
            break
    for event in sorted(new, key=lambda e: e["id"]):
        if "stateEnteredEventDetails" in event:
            on_state(event["stateEnteredEventDetails"]["name"])
    last: int = max([seen, *(event["id"] for event in new)])
    return last


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events
