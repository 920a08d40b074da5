"""Pydantic models of every event a handler takes and every output it returns.

Event models ignore unknown keys (Step Functions and EventBridge add their own), but every field the
contract names is required and validated; ``parse_event`` turns a validation error into InvalidEvent.
"""

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    RootModel,
    StringConstraints,
    ValidationError,
)

from recflow_lambda.errors import InvalidEvent
from recflow_lambda.naming import MAX_NAME_LENGTH, MAX_RUN_ID_LENGTH, NAME_PATTERN, Phase, RunPhase

RunId = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=MAX_RUN_ID_LENGTH)]
ResourceName = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH)]
S3Uri = Annotated[str, StringConstraints(pattern=r"^s3://[^/]+/.+")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
BatchKind = Literal["userId", "itemId"]

M = TypeVar("M", bound=BaseModel)


def parse_event(model: type[M], event: Any, function: str) -> M:
    """Validate ``event`` as ``model``; raise InvalidEvent with one sentence listing what is wrong."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}" for error in exc.errors()[:5]
        )
        raise InvalidEvent(f"The {function} event is invalid ({problems}).") from exc


# --- start_run ---------------------------------------------------------------------------------------
class S3Bucket(BaseModel):
    name: NonEmpty


class S3Object(BaseModel):
    key: NonEmpty
    etag: str | None = None
    sequencer: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")


class ObjectCreatedDetail(BaseModel):
    bucket: S3Bucket
    object: S3Object


class ObjectCreatedEvent(BaseModel):
    """EventBridge "Object Created" event from S3."""

    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    time: datetime | None = None
    detail: ObjectCreatedDetail


class ScheduledEvent(BaseModel):
    """EventBridge "Scheduled Event" of a schedule rule."""

    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    time: datetime
    resources: list[str] = []


ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]


class ExecutionStatusDetail(BaseModel):
    execution_arn: NonEmpty = Field(alias="executionArn")
    state_machine_arn: NonEmpty = Field(alias="stateMachineArn")
    name: NonEmpty
    status: ExecutionStatus


class ExecutionStatusChangeEvent(BaseModel):
    """EventBridge "Step Functions Execution Status Change" event: a run ended (template.yaml's RunEnded rule)."""

    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    time: datetime | None = None
    detail: ExecutionStatusDetail


class TriggerEvent(
    RootModel[
        Annotated[ObjectCreatedEvent | ScheduledEvent | ExecutionStatusChangeEvent, Field(discriminator="detail_type")]
    ]
):
    """What start_run handles: an upload under raw/, a schedule, or the end of a run."""


class Trigger(BaseModel):
    """The ``trigger`` of the state machine input: where the run came from."""

    type: Literal["upload", "schedule", "follow-up"]
    time: str | None = None
    bucket: str | None = None
    key: str | None = None
    etag: str | None = None
    sequencer: str | None = None
    rule: str | None = None
    # A follow-up run: the run whose end started it, and how many triggers that arrived meanwhile it covers.
    after: str | None = None
    covers: NonNegativeInt | None = None
    # The Lambda request that started the run (see runs.start_run).
    request_id: str


class PendingTrigger(BaseModel):
    """A trigger that arrived while a run was in flight: the run id it would have had, and the trigger."""

    marker: str
    trigger: Trigger


class RunLock(BaseModel):
    """state/run-lock.json: the run in flight and what arrived meanwhile (written only by start_run)."""

    execution_arn: str | None = None
    covers: list[str] = []  # markers of the triggers the run in flight was started for
    pending: list[PendingTrigger] = []  # triggers that arrived while it ran: the follow-up run covers them
    recent: list[str] = []  # markers of earlier runs' triggers, newest last (bounded): later duplicates start nothing
    updated_at: str | None = None

    def knows(self, marker: str) -> bool:
        return marker in self.covers or marker in self.recent or any(p.marker == marker for p in self.pending)


class StartRunResult(BaseModel):
    run_id: str | None
    execution_arn: str | None
    started: bool
    reason: str | None = None
    # The trigger waits for the run in flight to end: its follow-up run covers it.
    queued: bool = False


# --- check_data ---------------------------------------------------------------------------------------
class CheckDataEvent(BaseModel):
    run_id: RunId
    etl_state: NonEmpty


class EtlReport(BaseModel):
    """transformed/<run-id>/report.json, written by the Glue job (or the offline ETL)."""

    # Keep counts the ETL adds later: the report is passed on to the run manifest.
    model_config = ConfigDict(extra="allow")

    run_id: str
    # report.json lists every raw file read; the state payload carries source_file_count instead, since a
    # state may pass on at most 256 KiB (check_data's handler leaves the list out).
    source_files: list[str] = Field(default_factory=list)
    lines_read: NonNegativeInt
    header_lines: NonNegativeInt
    blank_lines: NonNegativeInt
    rejected: NonNegativeInt
    rejects_by_reason: dict[str, NonNegativeInt]
    duplicates_dropped: NonNegativeInt
    below_min_rating: NonNegativeInt
    interactions: NonNegativeInt
    users: NonNegativeInt
    items: NonNegativeInt
    users_with_2plus: NonNegativeInt
    timestamp_units: dict[str, NonNegativeInt]


# --- prepare_batch_input / start_* / check_job ---------------------------------------------------------
class RunEvent(BaseModel):
    run_id: RunId


class PrepareBatchInputEvent(RunEvent):
    before_etl: bool = False  # the run's first state: only a BATCH_USERS_KEY file can be put in place yet


class BatchInput(BaseModel):
    s3_uri: S3Uri
    records: NonNegativeInt
    kind: BatchKind


class StartBatchEvent(BaseModel):
    run_id: RunId
    input_uri: S3Uri
    solution_version_arn: NonEmpty


class Expectation(BaseModel):
    """How long this phase's job ran at least in recent successful runs (recflow_lambda.phase_history)."""

    shortest_seconds: NonNegativeInt
    longest_seconds: NonNegativeInt
    runs: NonNegativeInt


class JobState(BaseModel):
    """A Personalize job as the state machine tracks it between polls (a job that cannot succeed raises)."""

    phase: Phase
    name: ResourceName
    arn: NonEmpty
    status: NonEmpty
    polls: NonNegativeInt = 0
    waited_seconds: NonNegativeInt = 0
    # Step Functions' Wait state needs a whole number of seconds.
    wait_seconds: NonNegativeInt = 0
    # waited_seconds at the last poll that saw the job running: the job ran at least this long.
    running_seconds: NonNegativeInt = 0
    # None on a first run: check_job then polls by the first-run rule (job_status.py).
    expected: Expectation | None = None


class CheckJobEvent(BaseModel):
    job: JobState


# --- point_campaign (the pipeline's last Personalize step) ------------------------------------------------
class CampaignState(BaseModel):
    """The stack's campaign as the state machine tracks it until it serves the run's solution version."""

    arn: str | None  # None: the stack has no campaign (CampaignMinTPS 0), nothing to point
    name: str | None = None
    solution_version_arn: str | None = None  # the version the campaign serves now
    status: NonEmpty  # the campaign's status, or its latest update's while one is in progress
    ready: bool
    polls: NonNegativeInt = 0
    waited_seconds: NonNegativeInt = 0
    wait_seconds: NonNegativeInt = 0


class PointCampaignEvent(BaseModel):
    run_id: RunId
    solution_version_arn: NonEmpty
    # None on the first call; the previous answer on each check after a wait.
    campaign: CampaignState | None = None


# --- finish_run / notify_failure ------------------------------------------------------------------------
class FinishRunEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    run_id: RunId
    data: EtlReport
    batch_input: BatchInput
    import_job: JobState = Field(alias="import")
    training: JobState
    batch: JobState
    # Absent when the state machine has no campaign step (runs started before it existed).
    campaign: CampaignState | None = None


class RunManifest(BaseModel):
    """recommendations/<run-id>/_SUCCESS."""

    run_id: str
    finished_at: str
    counts: EtlReport
    metrics: dict[str, float]
    recipe_arn: str
    solution_arn: str
    jobs: dict[Phase, str]
    batch_input: BatchInput
    output_prefix: str
    output_keys: list[str]
    # The campaign serving this run's solution version (CampaignMinTPS > 0), else None.
    campaign_arn: str | None = None


class LatestPointer(BaseModel):
    """recommendations/latest.json."""

    run_id: str
    prefix: str
    manifest: str
    finished_at: str
    campaign_arn: str | None = None  # serves this run's solution version in real time


class FailureEvent(BaseModel):
    run_id: NonEmpty
    phase: RunPhase
    error: NonEmpty
    cause: str | None = None


class FailureNotice(BaseModel):
    notified: bool


# --- solution_resource: the Personalize custom resources (solution, filter, campaign) ----------------------
class CustomResourceAddress(BaseModel):
    """The part of a custom resource request needed to answer it at all."""

    response_url: NonEmpty = Field(alias="ResponseURL")
    stack_id: NonEmpty = Field(alias="StackId")
    request_id: NonEmpty = Field(alias="RequestId")
    logical_resource_id: NonEmpty = Field(alias="LogicalResourceId")
    physical_resource_id: str | None = Field(default=None, alias="PhysicalResourceId")


class SolutionProperties(BaseModel):
    # Any length: the solution is named naming.fit_name(name), at most 63 characters.
    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)] = Field(alias="Name")
    dataset_group_arn: NonEmpty = Field(alias="DatasetGroupArn")
    recipe_arn: NonEmpty = Field(alias="RecipeArn")


class SolutionRequest(CustomResourceAddress):
    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    properties: SolutionProperties = Field(alias="ResourceProperties")


class FilterProperties(BaseModel):
    name: ResourceName = Field(alias="Name")
    dataset_group_arn: NonEmpty = Field(alias="DatasetGroupArn")
    expression: NonEmpty = Field(alias="FilterExpression")


class FilterRequest(CustomResourceAddress):
    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    properties: FilterProperties = Field(alias="ResourceProperties")


class CampaignProperties(BaseModel):
    name: ResourceName = Field(alias="Name")
    # The campaign serves versions of this solution; a new solution (a recipe change) retires the campaign.
    solution_arn: NonEmpty = Field(alias="SolutionArn")
    # CloudFormation sends every property as a string: "1" becomes 1 here. 0 means no campaign: the
    # HasCampaign condition removes the resource, and an Update to 0 (moto's way) deletes the campaign too.
    min_provisioned_tps: NonNegativeInt = Field(alias="MinProvisionedTPS")


class CampaignRequest(CustomResourceAddress):
    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    properties: CampaignProperties = Field(alias="ResourceProperties")
    old_properties: CampaignProperties | None = Field(default=None, alias="OldResourceProperties")


class CustomResourceResponse(BaseModel):
    """The body PUT to the ResponseURL (field names are CloudFormation's)."""

    Status: Literal["SUCCESS", "FAILED"]
    Reason: str
    PhysicalResourceId: str
    StackId: str
    RequestId: str
    LogicalResourceId: str
    NoEcho: bool = False
    Data: dict[str, str] = {}
