"""The local service's resources and jobs: how their status follows the simulated clock, and the
API bodies that describe them (`to_dict` for Describe*, `summary` for List*).

Bodies leave out unset members, as the API does.
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from recflow.personalize_local.errors import in_use
from recflow.personalize_local.filters import FilterExpression
from recflow.personalize_local.interactions import Interactions
from recflow.personalize_local.schema import DatasetSchema
from recflow.personalize_local.settings import Fault, Phase

ACTIVE = "ACTIVE"
CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
CREATE_FAILED = "CREATE FAILED"
CREATE_STOPPED = "CREATE STOPPED"


def compact(body: dict[str, Any]) -> dict[str, Any]:
    """Leave out unset members, as the API does."""
    return {key: value for key, value in body.items() if value is not None}


@dataclass(kw_only=True)
class Resource:
    """A dataset group, dataset or solution: CREATE PENDING until `active_at`, then ACTIVE."""

    name: str
    arn: str
    created: float
    active_at: float

    def status(self, now: float) -> str:
        return ACTIVE if now >= self.active_at else CREATE_PENDING

    def updated(self, now: float) -> float:
        return self.active_at if now >= self.active_at else self.created

    def times(self, now: float) -> dict[str, Any]:
        return {"status": self.status(now), "creationDateTime": self.created, "lastUpdatedDateTime": self.updated(now)}


@dataclass(kw_only=True)
class DatasetGroup(Resource):
    role_arn: str | None = None
    kms_key_arn: str | None = None
    domain: str | None = None

    def summary(self, now: float) -> dict[str, Any]:
        return compact({"name": self.name, "datasetGroupArn": self.arn, **self.times(now), "domain": self.domain})

    def to_dict(self, now: float) -> dict[str, Any]:
        return self.summary(now) | compact({"roleArn": self.role_arn, "kmsKeyArn": self.kms_key_arn})


@dataclass(kw_only=True)
class Dataset(Resource):
    dataset_group_arn: str
    dataset_type: str
    schema: DatasetSchema
    interactions: Interactions | None = None  # replaced (never mutated) by each import

    def summary(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "datasetArn": self.arn, "datasetType": self.dataset_type, **self.times(now)}

    def to_dict(self, now: float) -> dict[str, Any]:
        return self.summary(now) | {"datasetGroupArn": self.dataset_group_arn, "schemaArn": self.schema.arn}


@dataclass(frozen=True, kw_only=True)
class SolutionOptions:
    """CreateSolution members the local service reports back but does not act on."""

    perform_hpo: bool = False
    # Personalize's default: without performAutoTraining=false a solution retrains (and bills) every
    # 7 days. The local service reports the setting; it does not schedule retraining.
    perform_auto_training: bool = True
    perform_incremental_update: bool | None = None
    event_type: str | None = None
    solution_config: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "performHPO": self.perform_hpo,
            "performAutoTraining": self.perform_auto_training,
            "performIncrementalUpdate": self.perform_incremental_update,
            "eventType": self.event_type,
            "solutionConfig": self.solution_config,
        }


@dataclass(kw_only=True)
class Solution(Resource):
    dataset_group_arn: str
    recipe_arn: str
    options: SolutionOptions
    versions_created: int = 0

    def summary(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "solutionArn": self.arn, **self.times(now), "recipeArn": self.recipe_arn}

    def to_dict(self, now: float, latest: "SolutionVersion | None") -> dict[str, Any]:
        """DescribeSolution's body; `latest` is the newest solution version, if any."""
        body = self.summary(now) | {"datasetGroupArn": self.dataset_group_arn, "performAutoML": False}
        body |= self.options.to_dict()
        body["latestSolutionVersion"] = latest.summary(now) if latest is not None else None
        return compact(body)


@dataclass(kw_only=True)
class Filter(Resource):
    """CREATE PENDING, then CREATE IN_PROGRESS from `started`, then ACTIVE at `active_at`."""

    dataset_group_arn: str
    expression: FilterExpression
    started: float

    def status(self, now: float) -> str:
        if now >= self.active_at:
            return ACTIVE
        return CREATE_IN_PROGRESS if now >= self.started else CREATE_PENDING

    def updated(self, now: float) -> float:
        if now >= self.active_at:
            return self.active_at
        return self.started if now >= self.started else self.created

    def summary(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "filterArn": self.arn, **self.times(now), "datasetGroupArn": self.dataset_group_arn}

    def to_dict(self, now: float) -> dict[str, Any]:
        return self.summary(now) | {"filterExpression": self.expression.text}


@dataclass(kw_only=True)
class Job:
    """A dataset import, solution version or batch inference job.

    CREATE PENDING until `started`, CREATE IN_PROGRESS until `due`; the final status is decided (and
    the real work done) by the service the first time a request observes the job after `due`.
    """

    phase: Phase
    kind: str  # how failure reasons and messages name it: "dataset import job"…
    name: str | None
    arn: str
    created: float
    started: float
    due: float
    fault: Fault | None
    throttled_attempts: int = 0
    final_status: str | None = None
    failure_reason: str | None = None
    observed: float | None = None  # simulated time a request first saw the final status
    records: int | None = None
    work_wall_seconds: float | None = None

    def status(self, now: float) -> str:
        if self.final_status is not None:
            return self.final_status
        return CREATE_PENDING if now < self.started else CREATE_IN_PROGRESS

    def updated(self, now: float) -> float:
        if self.final_status is not None:
            return self.due
        return self.created if now < self.started else self.started

    def times(self, now: float) -> dict[str, Any]:
        return {
            "status": self.status(now),
            "creationDateTime": self.created,
            "lastUpdatedDateTime": self.updated(now),
            "failureReason": self.failure_reason,
        }

    def is_due(self, now: float) -> bool:
        return self.final_status is None and self.fault != "stall" and now >= self.due

    def is_running(self, now: float) -> bool:
        """Counts against the concurrency quota: pending or in progress on the timeline."""
        return self.final_status is None and (self.fault == "stall" or now < self.due)

    def record(self, now: float) -> "JobRecord":
        status = self.status(now)
        finished = self.final_status is not None
        return JobRecord(
            phase=self.phase,
            name=self.name,
            arn=self.arn,
            status=status,
            created=self.created,
            started=self.started if now >= self.started else None,
            completed=self.due if finished else None,
            job_seconds=self.due - self.created if finished else None,
            observed=self.observed,
            failure_reason=self.failure_reason,
            fault=self.fault,
            throttled_attempts=self.throttled_attempts,
            records=self.records,
            work_wall_seconds=self.work_wall_seconds,
        )


def require_active(resource: Resource, kind: str, now: float) -> None:
    """ResourceInUseException unless the dataset group, dataset, solution or filter is ACTIVE."""
    status = resource.status(now)
    if status != ACTIVE:
        raise in_use(f"The {kind} {resource.arn} is {status}; wait until it is ACTIVE.")


def require_job_active(job: Job, now: float) -> None:
    """ResourceInUseException unless the job (a solution version, in practice) finished ACTIVE."""
    status = job.status(now)
    if status != ACTIVE:
        raise in_use(f"The {job.kind} {job.arn} is {status}; it must be ACTIVE.")


@dataclass(kw_only=True)
class ImportJob(Job):
    dataset: Dataset
    data_location: str
    import_mode: str
    role_arn: str | None
    publish_attribution_metrics: bool | None

    def summary(self, now: float) -> dict[str, Any]:
        body = self.times(now) | {"jobName": self.name, "datasetImportJobArn": self.arn, "importMode": self.import_mode}
        return compact(body)

    def to_dict(self, now: float) -> dict[str, Any]:
        body = self.summary(now) | {
            "datasetArn": self.dataset.arn,
            "dataSource": {"dataLocation": self.data_location},
            "roleArn": self.role_arn,
            "publishAttributionMetricsToS3": self.publish_attribution_metrics,
        }
        return compact(body)


@dataclass(kw_only=True)
class SolutionVersion(Job):
    solution: Solution
    training_mode: str
    training_data: Interactions  # what the dataset held when the version was created
    model: Any = None  # the trainer's model once ACTIVE

    def summary(self, now: float) -> dict[str, Any]:
        body = self.times(now) | {
            "solutionVersionArn": self.arn,
            "trainingMode": self.training_mode,
            "trainingType": "MANUAL",
        }
        return compact(body)

    def to_dict(self, now: float) -> dict[str, Any]:
        solution = self.solution
        body = self.summary(now) | {"name": self.name, "solutionArn": solution.arn, "performAutoML": False}
        body |= {"recipeArn": solution.recipe_arn, "datasetGroupArn": solution.dataset_group_arn}
        body |= solution.options.to_dict()
        del body["performAutoTraining"]  # DescribeSolutionVersion does not report it
        if self.final_status == ACTIVE:
            body["trainingHours"] = round((self.due - self.started) / 3600, 6)
        return compact(body)


@dataclass(kw_only=True)
class BatchJob(Job):
    version: SolutionVersion
    num_results: int
    input_path: str
    output_path: str
    role_arn: str
    job_config: dict[str, Any] | None
    filter: Filter | None = None  # kept from creation: deleting the filter later does not change the job
    output_keys: list[str] = field(default_factory=list)

    def summary(self, now: float) -> dict[str, Any]:
        body = self.times(now) | {
            "jobName": self.name,
            "batchInferenceJobArn": self.arn,
            "solutionVersionArn": self.version.arn,
            "batchInferenceJobMode": "BATCH_INFERENCE",
        }
        return compact(body)

    def to_dict(self, now: float) -> dict[str, Any]:
        body = self.summary(now) | {
            "filterArn": self.filter.arn if self.filter is not None else None,
            "numResults": self.num_results,
            "jobInput": {"s3DataSource": {"path": self.input_path}},
            "jobOutput": {"s3DataDestination": {"path": self.output_path}},
            "batchInferenceJobConfig": self.job_config,
            "roleArn": self.role_arn,
        }
        return compact(body)


class JobRecord(BaseModel):
    """One job as the offline run summary reports it (times are simulated epoch seconds)."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    name: str | None
    arn: str
    status: str
    created: float
    started: float | None
    completed: float | None
    job_seconds: float | None
    """Creation to final status, in simulated seconds."""
    observed: float | None
    """When a Describe or List first saw the final status (the pipeline's polling adds this lag)."""
    failure_reason: str | None
    fault: Fault | None
    throttled_attempts: int
    """LimitExceededException answers injected before this job was created."""
    records: int | None
    """Import: CSV records read; train: interactions trained on; batch: input lines."""
    work_wall_seconds: float | None
    """Real (wall clock) seconds the local work took: parsing, training or writing recommendations."""
