"""Runs the real pipeline on this machine: template.yaml deployed into moto, the state machine executed
by moto, the handlers in-process, the Glue transform on DuckDB and Personalize served locally.

The run starts the way it does on AWS: the raw file is put under raw/ and the template's EventBridge
rule invokes the start_run function, which starts the execution.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from recflow_lambda.clients import clear_clients

from recflow.offline import lake
from recflow.offline.clock import SimClock
from recflow.offline.environ import environment
from recflow.offline.glue_local import GlueLocal
from recflow.offline.moto_extensions import Extensions, extended_moto
from recflow.offline.summary import Summary, build_summary
from recflow.offline.template import ACCOUNT_ID, REGION, Template
from recflow.personalize_local.service import LocalPersonalize
from recflow.personalize_local.settings import PHASES as JOB_PHASES
from recflow.personalize_local.settings import LocalSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PHASES = ("etl", "import", "train", "batch")
OUTCOMES = ("fail", "stop", "stall", "throttle")
STACK_NAME = "recflow"


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
    time_scale: float = 0.001
    parameters: dict[str, str] = field(default_factory=dict)


def run(request: RunRequest, on_state: Callable[[str], None] = lambda _: None) -> Summary:
    """Run the pipeline once; returns the summary also written to <lake>/runs/<run-id>/summary.json."""
    _check(request)
    template = Template(PROJECT_ROOT / "template.yaml", _parameters(request), stack_name=STACK_NAME)
    clock = SimClock(scale=request.time_scale)
    bucket = template.physical_id("DataBucket")
    started = time.perf_counter()
    with _offline_environment(), mock_aws(config=_MOTO_CONFIG):
        clear_clients()  # the handlers' cached boto3 clients must be made inside this mock
        glue = GlueLocal(clock, fault=request.faults.get("etl"))
        settings = LocalSettings(
            job_seconds=request.job_seconds,
            faults={p: o for p, o in request.faults.items() if p != "etl"},
        )
        with extended_moto(
            clock,
            glue.run,
            lambda account, region: LocalPersonalize(account, region, clock, _s3, settings),
            glue_start_throttles=2 if request.faults.get("etl") == "throttle" else 0,
        ) as ext:
            _deploy(template, clock)
            s3 = _s3()
            lake.upload(s3, bucket, lake.lake_objects(request.lake))
            in_lake = lake.etags(s3, bucket)
            *inputs, (trigger_key, trigger_path) = _stage_inputs(request)
            lake.upload(s3, bucket, inputs)
            _create_trigger(template)
            s3.upload_file(str(trigger_path), bucket, trigger_key)  # the upload that starts the run
            execution_arn = _started_execution(template, ext)
            history = _follow(execution_arn, on_state)
            written = lake.download_new(s3, bucket, request.lake, in_lake)
            summary = build_summary(
                history=history,
                execution=_sfn().describe_execution(executionArn=execution_arn),
                wall_seconds=time.perf_counter() - started,
                glue=glue,
                personalize=ext.personalize(ACCOUNT_ID, REGION),
                lake_keys=written,
                etl_report=_etl_report(request.lake, execution_arn.rsplit(":", 1)[1]),
            )
    summary.write(request.lake)
    return summary


def _check(request: RunRequest) -> None:
    if not request.raw_files:
        raise OfflineRunError("give at least one raw interactions file (--raw FILE)")
    for path in [*request.raw_files, *([request.users_file] if request.users_file else [])]:
        if not path.is_file():
            raise OfflineRunError(f"{path} does not exist or is not a file")
    for phase, outcome in request.faults.items():
        if phase not in PHASES or outcome not in OUTCOMES:
            raise OfflineRunError(
                f"unknown fault {phase}:{outcome}; PHASE is one of {', '.join(PHASES)} "
                f"and OUTCOME one of {', '.join(OUTCOMES)}"
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


# --- deployment of template.yaml into moto ---------------------------------------------------------

_MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


def _offline_environment() -> AbstractContextManager[None]:
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
        }
    )


def _s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def _sfn() -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


def _deploy(template: Template, clock: SimClock) -> None:
    """Create what template.yaml declares, under the names `Template` resolves references to."""
    iam = boto3.client("iam", region_name=REGION)
    role_arn = iam.create_role(RoleName="recflow-offline", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    s3 = _s3()
    bucket = template.physical_id("DataBucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    boto3.client("sns", region_name=REGION).create_topic(Name=template.physical_id("NotificationTopic").rsplit(":")[-1])
    _deploy_personalize(template, clock)

    glue = boto3.client("glue", region_name=REGION)
    job = template.glue_job()
    glue.create_job(
        Name=job["Name"],
        Role=job["Role"],
        Command=job["Command"],
        DefaultArguments=job["DefaultArguments"],
        Timeout=job["Timeout"],
        ExecutionProperty=job["ExecutionProperty"],
    )

    lam = boto3.client("lambda", region_name=REGION)
    for fn in template.functions():
        lam.create_function(
            FunctionName=template.physical_id(fn.logical_id),
            Runtime="python3.12",
            Role=role_arn,
            Handler=fn.handler,
            Code={"ZipFile": _EMPTY_ZIP},
            Environment={"Variables": fn.environment},
            MemorySize=fn.memory_size,
            Timeout=fn.timeout,
        )

    _sfn().create_state_machine(
        name=template.arn("PipelineStateMachine").rsplit(":", 1)[1],
        definition=template.state_machine_definition(),
        roleArn=role_arn,
    )


def _deploy_personalize(template: Template, clock: SimClock) -> None:
    personalize = boto3.client("personalize", region_name=REGION)
    resolved = {lid: template.resolve(template.resources[lid]["Properties"]) for lid in template.resources}
    group_arn = personalize.create_dataset_group(name=resolved["DatasetGroup"]["Name"])["datasetGroupArn"]
    while personalize.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"]["status"] != "ACTIVE":
        clock.advance(5)  # CloudFormation waits for the dataset group before creating the dataset
    schema = resolved["InteractionsSchema"]
    personalize.create_schema(name=schema["Name"], schema=schema["Schema"])
    dataset = resolved["InteractionsDataset"]
    personalize.create_dataset(
        name=dataset["Name"],
        datasetType=dataset["DatasetType"],
        datasetGroupArn=dataset["DatasetGroupArn"],
        schemaArn=dataset["SchemaArn"],
    )
    solution = resolved["Solution"]
    from recflow_lambda.solution import ensure_solution  # what the custom resource does on Create

    ensure_solution(
        name=solution["Name"],
        dataset_group_arn=solution["DatasetGroupArn"],
        recipe_arn=solution["RecipeArn"],
        wait=lambda: clock.advance(5),
    )


def _create_trigger(template: Template) -> None:
    events = boto3.client("events", region_name=REGION)
    for function_id, event_name, pattern in template.event_rules():
        rule = f"{STACK_NAME}-{function_id}-{event_name}"
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=rule, Targets=[{"Id": "function", "Arn": template.arn(function_id)}])


def _etl_report(lake_dir: Path, run_id: str) -> dict[str, Any] | None:
    path = lake_dir / "transformed" / run_id / "report.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _started_execution(template: Template, ext: Extensions) -> str:
    if ext.trigger_errors:
        raise OfflineRunError(f"the upload did not start a run: {ext.trigger_errors[-1]}")
    executions = _sfn().list_executions(stateMachineArn=template.arn("PipelineStateMachine"))["executions"]
    if not executions:
        raise OfflineRunError("the upload did not start a run: the EventBridge rule matched no raw/ object")
    return max(executions, key=lambda e: e["startDate"])["executionArn"]


def _follow(execution_arn: str, on_state: Callable[[str], None]) -> list[dict[str, Any]]:
    """Wait for the execution to end, reporting each state as it is entered; returns the history."""
    sfn = _sfn()
    seen = 0
    while sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
        seen = _report_new_states(sfn, execution_arn, seen, on_state)
        time.sleep(0.25)  # moto serialises the history slowly: polling it hard would slow the run itself
    _report_new_states(sfn, execution_arn, seen, on_state)
    return _history(sfn, execution_arn)


def _report_new_states(sfn: Any, execution_arn: str, seen: int, on_state: Callable[[str], None]) -> int:
    """Report the states entered since event id `seen`, reading the history newest first; returns the last id."""
    new: list[dict[str, Any]] = []
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, reverseOrder=True, PaginationConfig={"PageSize": 25}
    )
    for page in pages:
        new += [event for event in page["events"] if event["id"] > seen]
        if any(event["id"] <= seen for event in page["events"]):
            break
    for event in sorted(new, key=lambda e: e["id"]):
        if "stateEnteredEventDetails" in event:
            on_state(event["stateEnteredEventDetails"]["name"])
    return max([seen, *(event["id"] for event in new)])


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "offline: the handler runs in-process from functions/")
    return buffer.getvalue()


_EMPTY_ZIP = _zip()
