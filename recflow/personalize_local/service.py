"""A local Amazon Personalize: the API subset recflow uses, with real imports, training and batch output.

`LocalPersonalize.handle(action, request)` takes and returns the API's JSON bodies, so moto can serve
it to plain boto3 (recflow/offline/moto_extensions.py registers `ACTIONS`). Jobs move through
CREATE PENDING → CREATE IN_PROGRESS → ACTIVE on the injected simulated clock; the real work (reading
and checking CSV files, training, writing recommendations) runs once, when a request first observes
a job past its due time, so nothing runs in the background and a run is reproducible.
"""

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Protocol, TypeVar

import botocore.session
from botocore import xform_name

from recflow.personalize_local import work
from recflow.personalize_local.errors import (
    PersonalizeError,
    already_exists,
    in_use,
    invalid_input,
    limit_exceeded,
    not_found,
)
from recflow.personalize_local.interactions import DataError, Interactions
from recflow.personalize_local.resources import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_STOPPED,
    BatchJob,
    Dataset,
    DatasetGroup,
    ImportJob,
    Job,
    JobRecord,
    Resource,
    Solution,
    SolutionVersion,
)
from recflow.personalize_local.s3_objects import S3Problem, S3Uri
from recflow.personalize_local.schema import check_interactions_schema, load_schema
from recflow.personalize_local.settings import LocalSettings, Phase
from recflow.personalize_local.validation import validate_request

__all__ = ["Clock", "JobRecord", "LocalPersonalize", "LocalSettings", "PersonalizeError"]

DEFAULT_NUM_RESULTS = 25
MAX_NUM_RESULTS = 500
RECIPE_PREFIX = "arn:aws:personalize:::recipe/"
# Custom recipes of Amazon Personalize; whether the local recommender implements one is its own
# business (it raises ValueError and the solution version fails with that reason).
KNOWN_RECIPES = frozenset(
    {
        "aws-user-personalization",
        "aws-user-personalization-v2",
        "aws-personalized-ranking",
        "aws-personalized-ranking-v2",
        "aws-popularity-count",
        "aws-trending-now",
        "aws-similar-items",
        "aws-sims",
        "aws-semantic-similarity",
        "aws-next-best-action",
        "aws-item-affinity",
        "aws-item-attribute-affinity",
        "aws-hrnn",
        "aws-hrnn-metadata",
        "aws-hrnn-coldstart",
    }
)
JobT = TypeVar("JobT", bound=Job)
_QUOTA_NAMES: dict[Phase, str] = {
    "import": "dataset import jobs",
    "train": "solution versions being created",
    "batch": "batch inference jobs",
}


class Clock(Protocol):
    def now(self) -> float: ...


class LocalPersonalize:
    """Amazon Personalize for one account and region, on a simulated clock."""

    ACTIONS: ClassVar[tuple[str, ...]] = (
        "CreateDatasetGroup",
        "DescribeDatasetGroup",
        "ListDatasetGroups",
        "DeleteDatasetGroup",
        "CreateDataset",
        "DescribeDataset",
        "ListDatasets",
        "DeleteDataset",
        "CreateSolution",
        "DescribeSolution",
        "ListSolutions",
        "DeleteSolution",
        "CreateDatasetImportJob",
        "DescribeDatasetImportJob",
        "ListDatasetImportJobs",
        "CreateSolutionVersion",
        "DescribeSolutionVersion",
        "ListSolutionVersions",
        "GetSolutionMetrics",
        "CreateBatchInferenceJob",
        "DescribeBatchInferenceJob",
        "ListBatchInferenceJobs",
    )

    def __init__(
        self,
        account_id: str,
        region: str,
        clock: Clock,
        s3: Callable[[], Any],
        settings: LocalSettings | None = None,
    ) -> None:
        """`s3` returns a boto3 S3 client; it is called only when a job reads or writes S3, so the
        client is created inside whatever mock or endpoint is in force at that moment."""
        self.account_id = account_id
        self.region = region
        self.clock = clock
        self.settings = settings or LocalSettings()
        self._s3 = s3
        self._model = botocore.session.get_session().get_service_model("personalize")
        # moto server answers requests on several threads; one lock keeps every job's work single.
        self._lock = threading.RLock()
        self._dataset_groups: dict[str, DatasetGroup] = {}
        self._datasets: dict[str, Dataset] = {}
        self._solutions: dict[str, Solution] = {}
        self._versions: dict[str, SolutionVersion] = {}
        self._imports: dict[str, ImportJob] = {}
        self._batches: dict[str, BatchJob] = {}
        self._history: list[Job] = []  # every job ever created, for jobs(); deletions do not remove them
        # Injected throttles per phase: in all, and since the last create that got through.
        self._throttled: dict[Phase, int] = {"import": 0, "train": 0, "batch": 0}
        self._unclaimed_throttles: dict[Phase, int] = {"import": 0, "train": 0, "batch": 0}

    # ----------------------------------------------------------------------------------- interface

    def handle(self, action: str, request: dict[str, Any]) -> dict[str, Any]:
        """Answer one API call: `request` and the result are the operation's JSON bodies."""
        if action not in self.ACTIONS:
            raise PersonalizeError(
                "UnknownOperationException", f"The local Personalize service does not implement {action}."
            )
        validate_request(self._model.operation_model(action), request)
        handler = getattr(self, "_" + xform_name(action))
        with self._lock:
            return handler(request, self.clock.now())

    def jobs(self) -> list[JobRecord]:
        """Every job so far, in creation order, without doing any pending work."""
        with self._lock:
            now = self.clock.now()
            return [job.record(now) for job in self._history]

    def job_records(self) -> list[dict[str, Any]]:
        """`jobs()` as plain dicts, for JSON run summaries."""
        return [record.model_dump() for record in self.jobs()]

    # ---------------------------------------------------------------------------- dataset groups

    def _create_dataset_group(self, request: dict, now: float) -> dict:
        arn = self._arn(f"dataset-group/{request['name']}")
        if arn in self._dataset_groups:
            raise already_exists("dataset group", arn)
        self._dataset_groups[arn] = DatasetGroup(
            name=request["name"],
            arn=arn,
            created=now,
            active_at=now + self.settings.resource_seconds,
            role_arn=request.get("roleArn"),
            kms_key_arn=request.get("kmsKeyArn"),
            domain=request.get("domain"),
        )
        return _compact({"datasetGroupArn": arn, "domain": request.get("domain")})

    def _describe_dataset_group(self, request: dict, now: float) -> dict:
        group = self._find(self._dataset_groups, request["datasetGroupArn"], "dataset group")
        return {"datasetGroup": self._dataset_group_body(group, now, full=True)}

    def _list_dataset_groups(self, request: dict, now: float) -> dict:
        groups = self._newest_first(self._dataset_groups.values())
        return self._page(request, "datasetGroups", [self._dataset_group_body(g, now) for g in groups])

    def _delete_dataset_group(self, request: dict, now: float) -> dict:
        group = self._find(self._dataset_groups, request["datasetGroupArn"], "dataset group")
        users = [d.arn for d in self._datasets.values() if d.dataset_group_arn == group.arn]
        users += [s.arn for s in self._solutions.values() if s.dataset_group_arn == group.arn]
        if users:
            raise in_use(f"The dataset group {group.arn} still has resources ({', '.join(users)}); delete them first.")
        del self._dataset_groups[group.arn]
        return {}

    def _dataset_group_body(self, group: DatasetGroup, now: float, full: bool = False) -> dict:
        body = {
            "name": group.name,
            "datasetGroupArn": group.arn,
            "status": group.status(now),
            "creationDateTime": group.created,
            "lastUpdatedDateTime": group.updated(now),
            "domain": group.domain,
        }
        if full:
            body |= {"roleArn": group.role_arn, "kmsKeyArn": group.kms_key_arn}
        return _compact(body)

    # ---------------------------------------------------------------------------------- datasets

    def _create_dataset(self, request: dict, now: float) -> dict:
        group = self._find(self._dataset_groups, request["datasetGroupArn"], "dataset group")
        if request["datasetType"].upper() != "INTERACTIONS":
            raise invalid_input(
                f"The local Personalize service supports only Interactions datasets, not {request['datasetType']}."
            )
        arn = self._arn(f"dataset/{group.name}/INTERACTIONS")
        if arn in self._datasets:
            raise already_exists("dataset", arn)
        self._require_active(group, "dataset group", now)
        schema = load_schema(request["schemaArn"])
        check_interactions_schema(schema)
        self._datasets[arn] = Dataset(
            name=request["name"],
            arn=arn,
            created=now,
            active_at=now + self.settings.resource_seconds,
            dataset_group_arn=group.arn,
            dataset_type="INTERACTIONS",
            schema=schema,
        )
        return {"datasetArn": arn}

    def _describe_dataset(self, request: dict, now: float) -> dict:
        dataset = self._find(self._datasets, request["datasetArn"], "dataset")
        return {"dataset": self._dataset_body(dataset, now, full=True)}

    def _list_datasets(self, request: dict, now: float) -> dict:
        group_arn = request.get("datasetGroupArn")
        datasets = [d for d in self._datasets.values() if group_arn in (None, d.dataset_group_arn)]
        bodies = [self._dataset_body(d, now) for d in self._newest_first(datasets)]
        return self._page(request, "datasets", bodies)

    def _delete_dataset(self, request: dict, now: float) -> dict:
        dataset = self._find(self._datasets, request["datasetArn"], "dataset")
        imports = [job for job in self._imports.values() if job.dataset is dataset]
        running = [job.arn for job in imports if job.is_running(now)]
        if running:
            raise in_use(f"The dataset {dataset.arn} has import jobs in progress ({', '.join(running)}).")
        del self._datasets[dataset.arn]
        return {}

    def _dataset_body(self, dataset: Dataset, now: float, full: bool = False) -> dict:
        body = {
            "name": dataset.name,
            "datasetArn": dataset.arn,
            "datasetType": dataset.dataset_type,
            "status": dataset.status(now),
            "creationDateTime": dataset.created,
            "lastUpdatedDateTime": dataset.updated(now),
        }
        if full:
            body |= {"datasetGroupArn": dataset.dataset_group_arn, "schemaArn": dataset.schema.arn}
        return body

    # --------------------------------------------------------------------------------- solutions

    def _create_solution(self, request: dict, now: float) -> dict:
        arn = self._arn(f"solution/{request['name']}")
        if arn in self._solutions:
            raise already_exists("solution", arn)
        group = self._find(self._dataset_groups, request["datasetGroupArn"], "dataset group")
        if request.get("performAutoML"):
            raise invalid_input("The local Personalize service does not support performAutoML; name a recipeArn.")
        recipe = request.get("recipeArn")
        if recipe is None:
            raise invalid_input("recipeArn is required when performAutoML is not true.")
        if not recipe.startswith(RECIPE_PREFIX) or recipe.removeprefix(RECIPE_PREFIX) not in KNOWN_RECIPES:
            raise not_found("recipe", recipe)
        self._require_active(group, "dataset group", now)
        self._solutions[arn] = Solution(
            name=request["name"],
            arn=arn,
            created=now,
            active_at=now + self.settings.resource_seconds,
            dataset_group_arn=group.arn,
            recipe_arn=recipe,
            perform_hpo=request.get("performHPO", False),
            perform_auto_ml=False,
            # Personalize's default: without performAutoTraining=false a solution retrains (and bills)
            # every 7 days. The local service reports the setting; it does not schedule retraining.
            perform_auto_training=request.get("performAutoTraining", True),
            perform_incremental_update=request.get("performIncrementalUpdate"),
            event_type=request.get("eventType"),
            solution_config=request.get("solutionConfig"),
        )
        return {"solutionArn": arn}

    def _describe_solution(self, request: dict, now: float) -> dict:
        solution = self._find(self._solutions, request["solutionArn"], "solution")
        body = self._solution_body(solution, now) | {
            "datasetGroupArn": solution.dataset_group_arn,
            "performHPO": solution.perform_hpo,
            "performAutoML": solution.perform_auto_ml,
            "performAutoTraining": solution.perform_auto_training,
            "performIncrementalUpdate": solution.perform_incremental_update,
            "eventType": solution.event_type,
            "solutionConfig": solution.solution_config,
        }
        versions = [v for v in self._versions.values() if v.solution is solution]
        if versions:
            latest = self._newest_first(versions)[0]
            self._observe(latest, now)
            body["latestSolutionVersion"] = self._version_summary(latest, now)
        return {"solution": _compact(body)}

    def _list_solutions(self, request: dict, now: float) -> dict:
        group_arn = request.get("datasetGroupArn")
        solutions = [s for s in self._solutions.values() if group_arn in (None, s.dataset_group_arn)]
        bodies = [self._solution_body(s, now) for s in self._newest_first(solutions)]
        return self._page(request, "solutions", bodies)

    def _delete_solution(self, request: dict, now: float) -> dict:
        solution = self._find(self._solutions, request["solutionArn"], "solution")
        versions = [v for v in self._versions.values() if v.solution is solution]
        running = [v.arn for v in versions if v.is_running(now)]
        if running:
            raise in_use(f"The solution {solution.arn} has solution versions in progress ({', '.join(running)}).")
        for version in versions:  # batch jobs keep their own reference to the version they used
            del self._versions[version.arn]
        del self._solutions[solution.arn]
        return {}

    def _solution_body(self, solution: Solution, now: float) -> dict:
        return {
            "name": solution.name,
            "solutionArn": solution.arn,
            "status": solution.status(now),
            "creationDateTime": solution.created,
            "lastUpdatedDateTime": solution.updated(now),
            "recipeArn": solution.recipe_arn,
        }

    # ----------------------------------------------------------------------- dataset import jobs

    def _create_dataset_import_job(self, request: dict, now: float) -> dict:
        arn = self._arn(f"dataset-import-job/{request['jobName']}")
        if arn in self._imports:
            raise already_exists("dataset import job", arn)
        dataset = self._find(self._datasets, request["datasetArn"], "dataset")
        location = request["dataSource"].get("dataLocation")
        if location is None:
            raise invalid_input("dataSource.dataLocation is required.")
        _s3_uri(location, "dataSource.dataLocation")
        self._require_active(dataset, "dataset", now)
        throttled = self._admit("import", now)
        job = ImportJob(
            **self._schedule("import", "dataset import job", request["jobName"], arn, now, throttled),
            dataset=dataset,
            data_location=location,
            import_mode=request.get("importMode", "FULL"),
            role_arn=request.get("roleArn"),
            publish_attribution_metrics=request.get("publishAttributionMetricsToS3"),
        )
        self._imports[arn] = self._remember(job)
        return {"datasetImportJobArn": arn}

    def _describe_dataset_import_job(self, request: dict, now: float) -> dict:
        job = self._find(self._imports, request["datasetImportJobArn"], "dataset import job")
        self._observe(job, now)
        body = self._import_summary(job, now) | {
            "datasetArn": job.dataset.arn,
            "dataSource": {"dataLocation": job.data_location},
            "roleArn": job.role_arn,
            "publishAttributionMetricsToS3": job.publish_attribution_metrics,
        }
        return {"datasetImportJob": _compact(body)}

    def _list_dataset_import_jobs(self, request: dict, now: float) -> dict:
        dataset_arn = request.get("datasetArn")
        jobs = [j for j in self._imports.values() if dataset_arn in (None, j.dataset.arn)]
        for job in sorted(jobs, key=lambda j: j.created):  # in creation order: imports build on each other
            self._observe(job, now)
        bodies = [self._import_summary(j, now) for j in self._newest_first(jobs)]
        return self._page(request, "datasetImportJobs", bodies)

    def _import_summary(self, job: ImportJob, now: float) -> dict:
        return _compact(
            self._job_times(job, now)
            | {
                "jobName": job.name,
                "datasetImportJobArn": job.arn,
                "importMode": job.import_mode,
            }
        )

    def _run_import(self, job: ImportJob, now: float) -> int:
        # A later import must land on top of an earlier one, whichever a request observes first.
        for earlier in self._imports.values():
            if earlier.dataset is job.dataset and earlier.created < job.created:
                self._observe(earlier, now)
        data = work.read_import(self._s3(), job.data_location, job.dataset.schema)
        if self._datasets.get(job.dataset.arn) is not job.dataset:
            raise DataError(f"The dataset {job.dataset.arn} was deleted before the import finished.")
        current = job.dataset.interactions
        merged = Interactions.concat([current, data]) if job.import_mode == "INCREMENTAL" and current else data
        job.dataset.interactions = merged.without_duplicates()
        return len(data)

    # ------------------------------------------------------------------------- solution versions

    def _create_solution_version(self, request: dict, now: float) -> dict:
        solution = self._find(self._solutions, request["solutionArn"], "solution")
        name = request.get("name")
        versions = [v for v in self._versions.values() if v.solution is solution]
        if name is not None and any(v.name == name for v in versions):
            raise PersonalizeError(
                "ResourceAlreadyExistsException",
                f"The solution {solution.arn} already has a solution version named {name}.",
            )
        self._require_active(solution, "solution", now)
        mode = request.get("trainingMode", "FULL")
        if mode == "AUTOTRAIN":
            raise invalid_input("trainingMode AUTOTRAIN is reserved for automatic training; use FULL or UPDATE.")
        for version in versions:
            self._observe(version, now)
        if mode == "UPDATE" and not any(v.status(now) == ACTIVE for v in versions):
            raise invalid_input(f"trainingMode UPDATE needs an ACTIVE solution version of {solution.arn}.")
        data = self._training_data(solution.dataset_group_arn, now)
        throttled = self._admit("train", now)
        solution.versions_created += 1
        # Deterministic, and distinct for a solution deleted and created again under the same name.
        seed = f"{solution.arn}#{solution.created}#{solution.versions_created}"
        version_id = hashlib.sha256(seed.encode()).hexdigest()[:8]
        arn = f"{solution.arn}/{version_id}"
        self._versions[arn] = self._remember(
            SolutionVersion(
                **self._schedule("train", "solution version", name, arn, now, throttled),
                solution=solution,
                training_mode=mode,
                training_data=data,
            )
        )
        return {"solutionVersionArn": arn}

    def _training_data(self, group_arn: str, now: float) -> Interactions:
        """The interactions a new solution version trains on: the dataset as it is now."""
        dataset = next((d for d in self._datasets.values() if d.dataset_group_arn == group_arn), None)
        if dataset is not None:
            for job in sorted(self._imports.values(), key=lambda j: j.created):
                if job.dataset is dataset:
                    self._observe(job, now)
        if dataset is None or dataset.interactions is None:
            raise invalid_input(
                f"The dataset group {group_arn} has no imported interactions; import data with "
                "CreateDatasetImportJob before creating a solution version."
            )
        return dataset.interactions

    def _describe_solution_version(self, request: dict, now: float) -> dict:
        version = self._find(self._versions, request["solutionVersionArn"], "solution version")
        self._observe(version, now)
        solution = version.solution
        body = self._version_summary(version, now) | {
            "name": version.name,
            "solutionArn": solution.arn,
            "performHPO": solution.perform_hpo,
            "performAutoML": solution.perform_auto_ml,
            "performIncrementalUpdate": solution.perform_incremental_update,
            "recipeArn": solution.recipe_arn,
            "eventType": solution.event_type,
            "datasetGroupArn": solution.dataset_group_arn,
            "solutionConfig": solution.solution_config,
        }
        if version.final_status == ACTIVE:
            body["trainingHours"] = round((version.due - version.started) / 3600, 6)
        return {"solutionVersion": _compact(body)}

    def _list_solution_versions(self, request: dict, now: float) -> dict:
        solution_arn = request.get("solutionArn")
        if solution_arn is not None:
            self._find(self._solutions, solution_arn, "solution")
        versions = [v for v in self._versions.values() if solution_arn in (None, v.solution.arn)]
        for version in versions:
            self._observe(version, now)
        bodies = [self._version_summary(v, now) for v in self._newest_first(versions)]
        return self._page(request, "solutionVersions", bodies)

    def _get_solution_metrics(self, request: dict, now: float) -> dict:
        version = self._find(self._versions, request["solutionVersionArn"], "solution version")
        self._observe(version, now)
        self._require_job_active(version, now)
        metrics = {name: float(value) for name, value in version.model.metrics.items()}
        return {"solutionVersionArn": version.arn, "metrics": metrics}

    def _version_summary(self, version: SolutionVersion, now: float) -> dict:
        return _compact(
            self._job_times(version, now)
            | {
                "solutionVersionArn": version.arn,
                "trainingMode": version.training_mode,
                "trainingType": "MANUAL",
            }
        )

    def _run_training(self, version: SolutionVersion, now: float) -> int:
        solution = version.solution
        data = version.training_data
        version.model = work.train(data, solution.dataset_group_arn, solution.recipe_arn, self.settings.seed)
        return len(data)

    # ---------------------------------------------------------------------- batch inference jobs

    def _create_batch_inference_job(self, request: dict, now: float) -> dict:
        arn = self._arn(f"batch-inference-job/{request['jobName']}")
        if arn in self._batches:
            raise already_exists("batch inference job", arn)
        version = self._find(self._versions, request["solutionVersionArn"], "solution version")
        if request.get("filterArn"):
            raise not_found("filter", request["filterArn"])  # the local service has no filters
        if request.get("batchInferenceJobMode", "BATCH_INFERENCE") != "BATCH_INFERENCE":
            raise invalid_input("The local Personalize service supports only batchInferenceJobMode BATCH_INFERENCE.")
        num_results = request.get("numResults", DEFAULT_NUM_RESULTS)
        if not 1 <= num_results <= MAX_NUM_RESULTS:
            raise invalid_input(f"numResults must be between 1 and {MAX_NUM_RESULTS}, not {num_results}.")
        input_path = request["jobInput"]["s3DataSource"]["path"]
        output_path = request["jobOutput"]["s3DataDestination"]["path"]
        _s3_uri(input_path, "jobInput.s3DataSource.path")
        _s3_uri(output_path, "jobOutput.s3DataDestination.path")
        self._observe(version, now)
        self._require_job_active(version, now)
        throttled = self._admit("batch", now)
        self._batches[arn] = self._remember(
            BatchJob(
                **self._schedule("batch", "batch inference job", request["jobName"], arn, now, throttled),
                version=version,
                num_results=num_results,
                input_path=input_path,
                output_path=output_path,
                role_arn=request["roleArn"],
                job_config=request.get("batchInferenceJobConfig"),
            )
        )
        return {"batchInferenceJobArn": arn}

    def _describe_batch_inference_job(self, request: dict, now: float) -> dict:
        job = self._find(self._batches, request["batchInferenceJobArn"], "batch inference job")
        self._observe(job, now)
        body = self._batch_summary(job, now) | {
            "numResults": job.num_results,
            "jobInput": {"s3DataSource": {"path": job.input_path}},
            "jobOutput": {"s3DataDestination": {"path": job.output_path}},
            "batchInferenceJobConfig": job.job_config,
            "roleArn": job.role_arn,
        }
        return {"batchInferenceJob": _compact(body)}

    def _list_batch_inference_jobs(self, request: dict, now: float) -> dict:
        version_arn = request.get("solutionVersionArn")
        jobs = [j for j in self._batches.values() if version_arn in (None, j.version.arn)]
        for job in jobs:
            self._observe(job, now)
        bodies = [self._batch_summary(j, now) for j in self._newest_first(jobs)]
        return self._page(request, "batchInferenceJobs", bodies)

    def _batch_summary(self, job: BatchJob, now: float) -> dict:
        return _compact(
            self._job_times(job, now)
            | {
                "jobName": job.name,
                "batchInferenceJobArn": job.arn,
                "solutionVersionArn": job.version.arn,
                "batchInferenceJobMode": "BATCH_INFERENCE",
            }
        )

    def _run_batch(self, job: BatchJob, now: float) -> int:
        records, job.output_keys = work.write_recommendations(
            self._s3(), job.version.model, job.input_path, job.output_path, job.num_results
        )
        return records

    # ---------------------------------------------------------------------------- job machinery

    def _admit(self, phase: Phase, now: float) -> int:
        """Raise LimitExceededException for an injected throttle or a full quota; else how many
        injected throttles preceded this successful create."""
        name = _QUOTA_NAMES[phase]
        throttling = self.settings.faults.get(phase) == "throttle"
        if throttling and self._throttled[phase] < self.settings.throttle_count:
            self._throttled[phase] += 1
            self._unclaimed_throttles[phase] += 1
            raise limit_exceeded(
                f"You have reached the limit of concurrent {name} (injected fault, "
                f"{self._throttled[phase]} of {self.settings.throttle_count}); retry later."
            )
        running = sum(job.is_running(now) for job in self._jobs_of(phase))
        limit = self.settings.max_active_jobs[phase]
        if running >= limit:
            raise limit_exceeded(
                f"You have reached the limit of {limit} concurrent {name}; retry when one has finished."
            )
        throttled, self._unclaimed_throttles[phase] = self._unclaimed_throttles[phase], 0
        return throttled

    def _schedule(self, phase: Phase, kind: str, name: str | None, arn: str, now: float, throttled: int) -> dict:
        seconds = self.settings.job_seconds[phase]
        return {
            "phase": phase,
            "kind": kind,
            "name": name,
            "arn": arn,
            "created": now,
            "started": now + min(self.settings.pending_seconds, seconds),
            "due": now + seconds,
            "fault": self.settings.faults.get(phase),
            "throttled_attempts": throttled,
        }

    def _remember(self, job: JobT) -> JobT:
        self._history.append(job)
        return job

    def _observe(self, job: Job, now: float) -> None:
        """Decide a due job's final status, doing its real work: once, on first observation."""
        if not job.is_due(now):
            return
        if job.fault == "fail":
            job.final_status = CREATE_FAILED
            job.failure_reason = (
                f"Injected fault: the local Personalize service is set to fail every {job.kind} "
                f"(faults.{job.phase}=fail)."
            )
        elif job.fault == "stop":
            job.final_status = CREATE_STOPPED
        else:
            started = time.perf_counter()
            try:
                job.records = self._run(job, now)
                job.final_status = ACTIVE
            except (DataError, S3Problem) as exc:
                job.final_status = CREATE_FAILED
                job.failure_reason = str(exc)
            job.work_wall_seconds = round(time.perf_counter() - started, 6)
        job.observed = now

    def _run(self, job: Job, now: float) -> int:
        if isinstance(job, ImportJob):
            return self._run_import(job, now)
        if isinstance(job, SolutionVersion):
            return self._run_training(job, now)
        assert isinstance(job, BatchJob)
        return self._run_batch(job, now)

    def _jobs_of(self, phase: Phase) -> Iterable[Job]:
        return {"import": self._imports, "train": self._versions, "batch": self._batches}[phase].values()

    def _job_times(self, job: Job, now: float) -> dict:
        return {
            "status": job.status(now),
            "creationDateTime": job.created,
            "lastUpdatedDateTime": job.updated(now),
            "failureReason": job.failure_reason,
        }

    def _require_job_active(self, job: Job, now: float) -> None:
        status = job.status(now)
        if status != ACTIVE:
            raise in_use(f"The {job.kind} {job.arn} is {status}; it must be ACTIVE.")

    # --------------------------------------------------------------------------------- plumbing

    def _arn(self, resource: str) -> str:
        return f"arn:aws:personalize:{self.region}:{self.account_id}:{resource}"

    @staticmethod
    def _find(store: dict, arn: str, kind: str) -> Any:
        if arn not in store:
            raise not_found(kind, arn)
        return store[arn]

    @staticmethod
    def _require_active(resource: Resource, kind: str, now: float) -> None:
        status = resource.status(now)
        if status != ACTIVE:
            raise in_use(f"The {kind} {resource.arn} is {status}; wait until it is ACTIVE.")

    @staticmethod
    def _newest_first(items: Iterable[Any]) -> list[Any]:
        return sorted(items, key=lambda item: (item.created, item.arn), reverse=True)

    @staticmethod
    def _page(request: dict, key: str, bodies: list[dict]) -> dict:
        token = request.get("nextToken")
        try:
            start = int(token) if token is not None else 0
        except ValueError:
            start = -1
        if not 0 <= start <= len(bodies):
            raise PersonalizeError("InvalidNextTokenException", f"The nextToken {token!r} is not valid.")
        end = start + request.get("maxResults", 100)
        page: dict[str, Any] = {key: bodies[start:end]}
        if end < len(bodies):
            page["nextToken"] = str(end)
        return page


def _s3_uri(uri: str, field: str) -> S3Uri:
    try:
        return S3Uri.parse(uri)
    except ValueError as exc:
        raise invalid_input(f"{field} must be an s3:// location: {exc}.") from exc


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    """Leave out unset members, as the API does."""
    return {key: value for key, value in body.items() if value is not None}
