"""start_import, start_training, start_batch and check_job: the Personalize jobs of a run.

Each job has a deterministic name, so a retried or redriven start finds the job the first attempt
created (describe-or-create) instead of paying for a second one. Each start also reads how long its phase
took in recent successful runs (phase_history), which check_job's waits follow.
"""

from recflow_lambda import personalize
from recflow_lambda.job_status import next_job_state
from recflow_lambda.models import JobState
from recflow_lambda.naming import Phase, job_name, personalize_arn
from recflow_lambda.personalize import JobSnapshot
from recflow_lambda.phase_history import read_expectation
from recflow_lambda.recipes import batch_kind
from recflow_lambda.settings import BatchSettings, Settings, SolutionSettings


def import_job_name(settings: Settings, run_id: str) -> str:
    return job_name(settings.name_prefix, run_id, "import")


def start_import(run_id: str, settings: Settings) -> JobState:
    """FULL import of ``transformed/<run-id>/interactions/`` into the interactions dataset."""
    name = import_job_name(settings, run_id)
    job = personalize.ensure_dataset_import_job(
        name=name,
        arn=personalize_arn(settings.dataset_group_arn, "dataset-import-job", name),
        dataset_arn=settings.interactions_dataset_arn,
        data_location=f"s3://{settings.data_bucket}/transformed/{run_id}/interactions/",
        role_arn=settings.personalize_role_arn,
    )
    return _initial_state("import", name, job, settings)


def start_training(run_id: str, settings: SolutionSettings) -> JobState:
    """FULL training of a new version of SOLUTION_ARN."""
    name = job_name(settings.name_prefix, run_id, "train")
    imported = personalize.find_dataset_import_job(
        personalize_arn(settings.dataset_group_arn, "dataset-import-job", import_job_name(settings, run_id))
    )
    job = personalize.ensure_solution_version(
        name=name,
        solution_arn=settings.solution_arn,
        created_after=imported.created_at if imported else None,
    )
    return _initial_state("train", name, job, settings)


def batch_filter_arn(settings: BatchSettings) -> str | None:
    """The filter the batch job applies: the stack's exclude-seen filter (FILTER_ARN, empty when
    ExcludeSeenItems is false), except for related-items recipes. Their input lines carry an itemId and no
    userId (Personalize: "RELATED_ITEMS - itemId required, userId not used"), while an interactions filter
    removes what *the user* interacted with: there is no user whose history it could read."""
    if not settings.filter_arn or batch_kind(settings.recipe_arn) == "itemId":
        return None
    return settings.filter_arn


def start_batch(run_id: str, input_uri: str, solution_version_arn: str, settings: BatchSettings) -> JobState:
    """Batch inference of ``input_uri`` into ``recommendations/<run-id>/``."""
    name = job_name(settings.name_prefix, run_id, "batch")
    job = personalize.ensure_batch_inference_job(
        name=name,
        arn=personalize_arn(settings.dataset_group_arn, "batch-inference-job", name),
        solution_version_arn=solution_version_arn,
        num_results=settings.num_results,
        input_path=input_uri,
        output_path=f"s3://{settings.data_bucket}/recommendations/{run_id}/",
        role_arn=settings.personalize_role_arn,
        filter_arn=batch_filter_arn(settings),
    )
    return _initial_state("batch", name, job, settings)


def check_job(job: JobState, settings: Settings) -> JobState:
    """Poll the job once and return its next state (see job_status.next_job_state)."""
    snapshot = personalize.describe_job(job.phase, job.arn)
    deadline = {
        "import": settings.import_deadline_seconds,
        "train": settings.training_deadline_seconds,
        "batch": settings.batch_deadline_seconds,
    }[job.phase]
    return next_job_state(
        job,
        snapshot.status,
        snapshot.failure_reason,
        deadline_seconds=deadline,
        poll_min_seconds=settings.poll_min_seconds,
    )


def _initial_state(phase: Phase, name: str, job: JobSnapshot, settings: Settings) -> JobState:
    expected = read_expectation(settings.data_bucket, phase)
    return JobState(phase=phase, name=name, arn=job.arn, status=job.status, expected=expected)
