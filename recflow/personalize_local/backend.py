"""A local Amazon Personalize backend for one account and region, laid out like a moto backend.

Public `create_*`/`describe_*`/`list_*`/`delete_*` methods take plain values and return resource
objects (resources.py, which render their own API bodies); responses.py turns API requests into these
calls. Jobs move through CREATE PENDING → CREATE IN_PROGRESS → ACTIVE on the injected clock, and
their work (reading and checking CSV files, training, writing recommendations) runs through
scheduler.py when a call first observes a job past its due time. Campaigns (campaigns.py) and
answering with a model through a filter (serving.py) hang off the backend as `campaigns` and `serving`.
"""

import hashlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from recflow.personalize_local import work
from recflow.personalize_local.campaigns import Campaigns
from recflow.personalize_local.errors import (
    PersonalizeError,
    already_exists,
    in_use,
    invalid_input,
    limit_exceeded,
    not_found,
)
from recflow.personalize_local.filters import parse_expression
from recflow.personalize_local.interactions import DataError, Interactions
from recflow.personalize_local.resources import (
    ACTIVE,
    CREATE_STOPPED,
    BatchJob,
    Dataset,
    DatasetGroup,
    Filter,
    ImportJob,
    Job,
    JobRecord,
    Resource,
    Solution,
    SolutionOptions,
    SolutionVersion,
    require_active,
    require_job_active,
)
from recflow.personalize_local.s3_objects import S3Problem, S3Uri
from recflow.personalize_local.scheduler import JobScheduler
from recflow.personalize_local.schema import SchemaLookup, check_interactions_schema, load_schema
from recflow.personalize_local.serving import Serving, check_num_results
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import Trainer

MAX_FILTERS_PER_DATASET_GROUP = 10  # Personalize's default quota
RECIPE_PREFIX = "arn:aws:personalize:::recipe/"
# Custom recipes of Amazon Personalize; whether the trainer implements one is its own business (it
# raises ValueError and the solution version fails with that reason).
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
ResourceT = TypeVar("ResourceT", bound=Resource | Job)
JobT = TypeVar("JobT", bound=Job)


class Clock(Protocol):
    def now(self) -> float: ...


class PersonalizeBackend:
    """Amazon Personalize for one account and region, on a simulated clock.

    Callers hold `lock` around each call (PersonalizeResponses.handle does): moto server answers
    requests on several threads, and a call may do a job's work.
    """

    def __init__(
        self,
        account_id: str,
        region: str,
        *,
        clock: Clock,
        s3: Callable[[], Any],
        schemas: SchemaLookup,
        trainer: Trainer,
        settings: LocalSettings | None = None,
        s3_as_role: Callable[[str, str], Any] | None = None,
    ) -> None:
        """`s3` returns a boto3 S3 client; it is called only when a job reads or writes S3, so the
        client is created inside whatever mock or endpoint is in force at that moment. `schemas`
        answers a schema ARN with its Avro text (moto keeps schemas). `s3_as_role(role ARN, job ARN)`, when
        given, returns the client a job reads and writes with instead: Personalize's, acting as the role
        the job's request passed (recflow/offline/authorization.py authorizes its calls)."""
        self.account_id = account_id
        self.region = region
        self.clock = clock
        self.settings = settings or LocalSettings()
        self._s3 = s3
        self._s3_as_role = s3_as_role
        self._schemas = schemas
        self._trainer = trainer
        self.lock = threading.RLock()
        self._dataset_groups: dict[str, DatasetGroup] = {}
        self._datasets: dict[str, Dataset] = {}
        self._solutions: dict[str, Solution] = {}
        self._versions: dict[str, SolutionVersion] = {}
        self._imports: dict[str, ImportJob] = {}
        self._batches: dict[str, BatchJob] = {}
        self._filters: dict[str, Filter] = {}
        self._scheduler = JobScheduler(self.settings, self._work)
        self.campaigns = Campaigns(self)  # campaigns.py: CreateCampaign … DeleteCampaign
        self.serving = Serving(self)  # serving.py: recommendations and rankings, through filters

    def now(self) -> float:
        return self.clock.now()

    def jobs(self) -> list[JobRecord]:
        """Every job so far, in creation order, without doing any pending work."""
        with self.lock:
            return self._scheduler.records(self.now())

    def job_records(self) -> list[dict[str, Any]]:
        """`jobs()` as plain dicts, for JSON run summaries."""
        return [record.model_dump() for record in self.jobs()]

    # ---------------------------------------------------------------------------- dataset groups

    def create_dataset_group(
        self, name: str, role_arn: str | None = None, kms_key_arn: str | None = None, domain: str | None = None
    ) -> DatasetGroup:
        now = self.now()
        arn = self._unused_arn(self._dataset_groups, "dataset group", f"dataset-group/{name}")
        group = DatasetGroup(
            **self._timeline(name, arn, now), role_arn=role_arn, kms_key_arn=kms_key_arn, domain=domain
        )
        self._dataset_groups[arn] = group
        return group

    def describe_dataset_group(self, arn: str) -> DatasetGroup:
        return _find(self._dataset_groups, arn, "dataset group")

    def list_dataset_groups(self) -> list[DatasetGroup]:
        return _newest_first(self._dataset_groups.values())

    def delete_dataset_group(self, arn: str) -> None:
        group = self.describe_dataset_group(arn)
        users = [d.arn for d in self._datasets.values() if d.dataset_group_arn == group.arn]
        users += [s.arn for s in self._solutions.values() if s.dataset_group_arn == group.arn]
        users += [f.arn for f in self._filters.values() if f.dataset_group_arn == group.arn]
        if users:
            raise in_use(f"The dataset group {group.arn} still has resources ({', '.join(users)}); delete them first.")
        del self._dataset_groups[group.arn]

    # ---------------------------------------------------------------------------------- datasets

    def create_dataset(self, name: str, dataset_group_arn: str, dataset_type: str, schema_arn: str) -> Dataset:
        now = self.now()
        group = self.describe_dataset_group(dataset_group_arn)
        if dataset_type.upper() != "INTERACTIONS":
            raise invalid_input(
                f"The local Personalize service supports only Interactions datasets, not {dataset_type}."
            )
        arn = self._unused_arn(self._datasets, "dataset", f"dataset/{group.name}/INTERACTIONS")
        require_active(group, "dataset group", now)
        schema = load_schema(schema_arn, self._schemas)
        check_interactions_schema(schema)
        dataset = Dataset(
            **self._timeline(name, arn, now), dataset_group_arn=group.arn, dataset_type="INTERACTIONS", schema=schema
        )
        self._datasets[arn] = dataset
        return dataset

    def describe_dataset(self, arn: str) -> Dataset:
        return _find(self._datasets, arn, "dataset")

    def list_datasets(self, dataset_group_arn: str | None = None) -> list[Dataset]:
        return _newest_first(d for d in self._datasets.values() if dataset_group_arn in (None, d.dataset_group_arn))

    def delete_dataset(self, arn: str) -> None:
        now = self.now()
        dataset = self.describe_dataset(arn)
        running = [job.arn for job in self._imports.values() if job.dataset is dataset and job.is_running(now)]
        if running:
            raise in_use(f"The dataset {dataset.arn} has import jobs in progress ({', '.join(running)}).")
        del self._datasets[dataset.arn]

    def interactions(self, group_arn: str, now: float) -> Interactions | None:
        """The dataset group's interactions as they are at `now` (its due imports landed first); None before
        any import."""
        dataset = next((d for d in self._datasets.values() if d.dataset_group_arn == group_arn), None)
        if dataset is None:
            return None
        self._observe_imports(dataset, now)
        return dataset.interactions

    # --------------------------------------------------------------------------------- solutions

    def create_solution(
        self,
        name: str,
        dataset_group_arn: str,
        recipe_arn: str | None,
        perform_auto_ml: bool = False,
        options: SolutionOptions | None = None,
    ) -> Solution:
        now = self.now()
        arn = self._unused_arn(self._solutions, "solution", f"solution/{name}")
        group = self.describe_dataset_group(dataset_group_arn)
        if perform_auto_ml:
            raise invalid_input("The local Personalize service does not support performAutoML; name a recipeArn.")
        if recipe_arn is None:
            raise invalid_input("recipeArn is required when performAutoML is not true.")
        if not recipe_arn.startswith(RECIPE_PREFIX) or recipe_arn.removeprefix(RECIPE_PREFIX) not in KNOWN_RECIPES:
            raise not_found("recipe", recipe_arn)
        require_active(group, "dataset group", now)
        solution = Solution(
            **self._timeline(name, arn, now),
            dataset_group_arn=group.arn,
            recipe_arn=recipe_arn,
            options=options or SolutionOptions(),
        )
        self._solutions[arn] = solution
        return solution

    def describe_solution(self, arn: str) -> Solution:
        return _find(self._solutions, arn, "solution")

    def latest_solution_version(self, solution_arn: str) -> SolutionVersion | None:
        """The solution's newest version, observed (DescribeSolution reports it)."""
        solution = self.describe_solution(solution_arn)
        versions = _newest_first(v for v in self._versions.values() if v.solution is solution)
        if not versions:
            return None
        self._scheduler.observe(versions[0], self.now())
        return versions[0]

    def list_solutions(self, dataset_group_arn: str | None = None) -> list[Solution]:
        return _newest_first(s for s in self._solutions.values() if dataset_group_arn in (None, s.dataset_group_arn))

    def delete_solution(self, arn: str) -> None:
        now = self.now()
        solution = self.describe_solution(arn)
        versions = [v for v in self._versions.values() if v.solution is solution]
        running = [v.arn for v in versions if v.is_running(now)]
        if running:
            raise in_use(f"The solution {solution.arn} has solution versions in progress ({', '.join(running)}).")
        campaigns = self.campaigns.on_solution(solution.arn)
        if campaigns:
            raise in_use(f"The solution {solution.arn} has campaigns ({', '.join(campaigns)}); delete them first.")
        for version in versions:  # batch jobs keep their own reference to the version they used
            del self._versions[version.arn]
        del self._solutions[solution.arn]

    # ----------------------------------------------------------------------- dataset import jobs

    def create_dataset_import_job(
        self,
        job_name: str,
        dataset_arn: str,
        data_location: str | None,
        import_mode: str = "FULL",
        role_arn: str | None = None,
        publish_attribution_metrics: bool | None = None,
    ) -> ImportJob:
        now = self.now()
        arn = self._unused_arn(self._imports, "dataset import job", f"dataset-import-job/{job_name}")
        dataset = self.describe_dataset(dataset_arn)
        if data_location is None:
            raise invalid_input("dataSource.dataLocation is required.")
        _s3_uri(data_location, "dataSource.dataLocation")
        require_active(dataset, "dataset", now)
        timeline = self._scheduler.job("import", "dataset import job", job_name, arn, now)
        source: dict[str, Any] = {"dataset": dataset, "data_location": data_location, "import_mode": import_mode}
        job = ImportJob(
            **timeline, **source, role_arn=role_arn, publish_attribution_metrics=publish_attribution_metrics
        )
        return self._start(self._imports, job)

    def describe_dataset_import_job(self, arn: str) -> ImportJob:
        return self._observed(_find(self._imports, arn, "dataset import job"))

    def list_dataset_import_jobs(self, dataset_arn: str | None = None) -> list[ImportJob]:
        jobs = [j for j in self._imports.values() if dataset_arn in (None, j.dataset.arn)]
        # In creation order: imports build on each other.
        return self._observed_newest_first(sorted(jobs, key=lambda j: j.created))

    # ------------------------------------------------------------------------- solution versions

    def create_solution_version(
        self, solution_arn: str, name: str | None = None, training_mode: str = "FULL"
    ) -> SolutionVersion:
        now = self.now()
        solution = self.describe_solution(solution_arn)
        versions = [v for v in self._versions.values() if v.solution is solution]
        if name is not None and any(v.name == name for v in versions):
            raise PersonalizeError(
                "ResourceAlreadyExistsException",
                f"The solution {solution.arn} already has a solution version named {name}.",
            )
        require_active(solution, "solution", now)
        if training_mode == "AUTOTRAIN":
            raise invalid_input("trainingMode AUTOTRAIN is reserved for automatic training; use FULL or UPDATE.")
        for version in versions:
            self._scheduler.observe(version, now)
        if training_mode == "UPDATE" and not any(v.status(now) == ACTIVE for v in versions):
            raise invalid_input(f"trainingMode UPDATE needs an ACTIVE solution version of {solution.arn}.")
        data = self._training_data(solution.dataset_group_arn, now)
        # Deterministic, and distinct for a solution deleted and created again under the same name.
        seed = f"{solution.arn}#{solution.created}#{solution.versions_created + 1}"
        arn = f"{solution.arn}/{hashlib.sha256(seed.encode()).hexdigest()[:8]}"
        timeline = self._scheduler.job("train", "solution version", name, arn, now)
        solution.versions_created += 1
        version = SolutionVersion(**timeline, solution=solution, training_mode=training_mode, training_data=data)
        return self._start(self._versions, version)

    def describe_solution_version(self, arn: str) -> SolutionVersion:
        return self._observed(_find(self._versions, arn, "solution version"))

    def stop_solution_version_creation(self, arn: str) -> None:
        """Stop a training at once (AWS passes through CREATE STOPPING first; callers poll either way)."""
        now = self.now()
        version = self.describe_solution_version(arn)
        if not version.is_running(now):
            raise in_use(f"The solution version {arn} is {version.status(now)}; only a training can be stopped.")
        version.final_status, version.due, version.observed = CREATE_STOPPED, now, now

    def list_solution_versions(self, solution_arn: str | None = None) -> list[SolutionVersion]:
        if solution_arn is not None:
            self.describe_solution(solution_arn)
        return self._observed_newest_first(v for v in self._versions.values() if solution_arn in (None, v.solution.arn))

    def get_solution_metrics(self, solution_version_arn: str) -> dict[str, float]:
        version = self.describe_solution_version(solution_version_arn)
        require_job_active(version, self.now())
        return {name: float(value) for name, value in version.model.metrics.items()}

    # ---------------------------------------------------------------------- batch inference jobs

    def create_batch_inference_job(
        self,
        job_name: str,
        solution_version_arn: str,
        input_path: str,
        output_path: str,
        role_arn: str,
        num_results: int,
        filter_arn: str | None = None,
        mode: str = "BATCH_INFERENCE",
        job_config: dict[str, Any] | None = None,
    ) -> BatchJob:
        now = self.now()
        arn = self._unused_arn(self._batches, "batch inference job", f"batch-inference-job/{job_name}")
        version = _find(self._versions, solution_version_arn, "solution version")
        item_filter = self.serving.usable_filter(filter_arn, version, now) if filter_arn else None
        if mode != "BATCH_INFERENCE":
            raise invalid_input("The local Personalize service supports only batchInferenceJobMode BATCH_INFERENCE.")
        check_num_results(num_results)
        _s3_uri(input_path, "jobInput.s3DataSource.path")
        _s3_uri(output_path, "jobOutput.s3DataDestination.path")
        self._scheduler.observe(version, now)
        require_job_active(version, now)
        timeline = self._scheduler.job("batch", "batch inference job", job_name, arn, now)
        paths: dict[str, Any] = {"input_path": input_path, "output_path": output_path}
        job = BatchJob(
            **timeline,
            **paths,
            version=version,
            num_results=num_results,
            role_arn=role_arn,
            job_config=job_config,
            filter=item_filter,
        )
        return self._start(self._batches, job)

    def describe_batch_inference_job(self, arn: str) -> BatchJob:
        return self._observed(_find(self._batches, arn, "batch inference job"))

    def list_batch_inference_jobs(self, solution_version_arn: str | None = None) -> list[BatchJob]:
        jobs = (j for j in self._batches.values() if solution_version_arn in (None, j.version.arn))
        return self._observed_newest_first(jobs)

    # ----------------------------------------------------------------------------------- filters

    def create_filter(self, name: str, dataset_group_arn: str, filter_expression: str) -> Filter:
        """A filter on the simulated clock: CREATE PENDING, CREATE IN_PROGRESS half way, then ACTIVE."""
        now = self.now()
        arn = self._unused_arn(self._filters, "filter", f"filter/{name}")
        group = self.describe_dataset_group(dataset_group_arn)
        expression = parse_expression(filter_expression)
        if expression.dataset == "Items":
            raise invalid_input(
                f"The filter expression uses Items.{expression.field}, but the dataset group {group.arn} has no "
                "Items dataset (the local Personalize service supports only Interactions datasets)."
            )
        if sum(f.dataset_group_arn == group.arn for f in self._filters.values()) >= MAX_FILTERS_PER_DATASET_GROUP:
            raise limit_exceeded(
                f"The dataset group {group.arn} already has {MAX_FILTERS_PER_DATASET_GROUP} filters, the most "
                "Personalize allows; delete one first."
            )
        timeline = self._timeline(name, arn, now)
        started = now + self.settings.resource_seconds / 2
        item_filter = Filter(**timeline, dataset_group_arn=group.arn, expression=expression, started=started)
        self._filters[arn] = item_filter
        return item_filter

    def describe_filter(self, arn: str) -> Filter:
        return _find(self._filters, arn, "filter")

    def list_filters(self, dataset_group_arn: str | None = None) -> list[Filter]:
        return _newest_first(f for f in self._filters.values() if dataset_group_arn in (None, f.dataset_group_arn))

    def delete_filter(self, arn: str) -> None:
        now = self.now()
        item_filter = self.describe_filter(arn)
        running = [j.arn for j in self._batches.values() if j.filter is item_filter and j.is_running(now)]
        if running:
            raise in_use(f"The filter {arn} is used by batch inference jobs in progress ({', '.join(running)}).")
        del self._filters[arn]

    # ------------------------------------------------------------------------------- job work

    def _work(self, job: Job, now: float) -> int:
        """The scheduler's JobWork: a job's real work; returns how many records it handled."""
        if isinstance(job, ImportJob):
            return self._import(job, now)
        if isinstance(job, SolutionVersion):
            data = job.training_data
            solution = job.solution
            job.model = work.train(
                self._trainer, data, solution.dataset_group_arn, solution.recipe_arn, self.settings.seed
            )
            return len(data)
        assert isinstance(job, BatchJob)
        records, job.output_keys = work.write_recommendations(
            self._job_s3(job),
            self._trainer,
            job.version.model,
            job.input_path,
            job.output_path,
            job.num_results,
            self.serving.batch_answer(job),
        )
        return records

    def _job_s3(self, job: ImportJob | BatchJob) -> Any:
        if self._s3_as_role is None or job.role_arn is None:
            return self._s3()
        try:
            return self._s3_as_role(job.role_arn, job.arn)
        except PermissionError as exc:  # the role cannot be assumed by Personalize
            raise S3Problem(f"Could not assume {job.role_arn}: {exc}.") from exc

    def _import(self, job: ImportJob, now: float) -> int:
        # A later import must land on top of an earlier one, whichever a request observes first.
        for earlier in self._imports.values():
            if earlier.dataset is job.dataset and earlier.created < job.created:
                self._scheduler.observe(earlier, now)
        data = work.read_import(self._job_s3(job), job.data_location, job.dataset.schema)
        if self._datasets.get(job.dataset.arn) is not job.dataset:
            raise DataError(f"The dataset {job.dataset.arn} was deleted before the import finished.")
        current = job.dataset.interactions
        merged = Interactions.concat([current, data]) if job.import_mode == "INCREMENTAL" and current else data
        job.dataset.interactions = merged.without_duplicates()
        return len(data)

    def _training_data(self, group_arn: str, now: float) -> Interactions:
        """The interactions a new solution version trains on: the dataset as it is now."""
        data = self.interactions(group_arn, now)
        if data is None:
            raise invalid_input(
                f"The dataset group {group_arn} has no imported interactions; import data with "
                "CreateDatasetImportJob before creating a solution version."
            )
        return data

    def _observe_imports(self, dataset: Dataset, now: float) -> None:
        """Let the dataset's due imports land, oldest first: what it holds now."""
        for job in sorted(self._imports.values(), key=lambda j: j.created):
            if job.dataset is dataset:
                self._scheduler.observe(job, now)

    # --------------------------------------------------------------------------------- plumbing

    def _start(self, store: dict[str, JobT], job: JobT) -> JobT:
        """Keep a job created with an admitted timeline (JobScheduler.job)."""
        store[job.arn] = self._scheduler.remember(job)
        return job

    def _observed(self, job: JobT) -> JobT:
        self._scheduler.observe(job, self.now())
        return job

    def _observed_newest_first(self, jobs: Iterable[JobT]) -> list[JobT]:
        """Observe `jobs` in the order given, then list them newest first."""
        jobs = list(jobs)
        for job in jobs:
            self._observed(job)
        return _newest_first(jobs)

    def _timeline(self, name: str, arn: str, now: float) -> dict[str, Any]:
        return {"name": name, "arn": arn, "created": now, "active_at": now + self.settings.resource_seconds}

    def _unused_arn(self, store: dict[str, Any], kind: str, resource: str) -> str:
        """The ARN of a resource about to be created; ResourceAlreadyExistsException when it is taken."""
        arn = f"arn:aws:personalize:{self.region}:{self.account_id}:{resource}"
        if arn in store:
            raise already_exists(kind, arn)
        return arn


BackendFactory = Callable[[str, str, SchemaLookup], PersonalizeBackend]  # (account, region, schemas) -> backend


def backend_factory(
    clock: Clock,
    s3: Callable[[], Any],
    trainer: Trainer,
    settings: LocalSettings | None = None,
    s3_as_role: Callable[[str, str], Any] | None = None,
) -> BackendFactory:
    """Backends for every account and region that share a clock, S3 client, trainer and settings (what
    recflow.offline.moto_extensions.extended_moto creates one backend per account and region with)."""

    def create(account_id: str, region: str, schemas: SchemaLookup) -> PersonalizeBackend:
        return PersonalizeBackend(
            account_id,
            region,
            clock=clock,
            s3=s3,
            schemas=schemas,
            trainer=trainer,
            settings=settings,
            s3_as_role=s3_as_role,
        )

    return create


def _s3_uri(uri: str, field: str) -> S3Uri:
    try:
        return S3Uri.parse(uri)
    except ValueError as exc:
        raise invalid_input(f"{field} must be an s3:// location: {exc}.") from exc


def _find(store: dict[str, ResourceT], arn: str, kind: str) -> ResourceT:
    if arn not in store:
        raise not_found(kind, arn)
    return store[arn]


def _newest_first(items: Iterable[ResourceT]) -> list[ResourceT]:
    return sorted(items, key=lambda item: (item.created, item.arn), reverse=True)
