"""check_job's state logic: the next JobState from the status Personalize reports (pure, no I/O)."""

from recflow_lambda.backoff import equal_jitter_seconds
from recflow_lambda.errors import DeadlineExceeded, JobFailed, JobStopped
from recflow_lambda.models import JobState

ACTIVE = "ACTIVE"
FAILED = "CREATE FAILED"
STOPPED = frozenset({"CREATE STOPPING", "CREATE STOPPED"})
# Batch inference jobs are documented with PENDING / IN PROGRESS but report the CREATE ones too.
RUNNING = frozenset({"CREATE PENDING", "PENDING", "CREATE IN_PROGRESS", "IN PROGRESS"})
UNEXPECTED_STATUS = "UnexpectedStatus"
JOB_KIND = {"import": "dataset import", "train": "training", "batch": "batch inference"}


def next_job_state(
    job: JobState,
    status: str,
    failure_reason: str | None,
    *,
    deadline_seconds: int,
    poll_min_seconds: int,
    poll_max_seconds: int,
) -> JobState:
    """Count the poll, record ``status`` verbatim, and set error/cause or the next wait."""
    polls = job.polls + 1
    what = f"Personalize {JOB_KIND[job.phase]} job {job.name}"
    done = {"polls": polls, "status": status, "wait_seconds": 0, "error": None, "cause": None}
    if status == ACTIVE:
        return job.model_copy(update=done)
    if status == FAILED:
        cause = f"{what} failed: {failure_reason or 'Personalize gave no reason'}"
        return job.model_copy(update={**done, "error": JobFailed.__name__, "cause": cause})
    if status in STOPPED:
        return job.model_copy(update={**done, "error": JobStopped.__name__, "cause": f"{what} was stopped"})
    if status not in RUNNING:
        cause = f"{what} has status {status}, which the pipeline does not expect"
        return job.model_copy(update={**done, "error": UNEXPECTED_STATUS, "cause": cause})
    if job.waited_seconds >= deadline_seconds:
        cause = f"phase {job.phase} did not finish in {deadline_seconds} s"
        return job.model_copy(
            update={**done, "deadline_exceeded": True, "error": DeadlineExceeded.__name__, "cause": cause}
        )
    wait = equal_jitter_seconds(job.arn, polls, poll_min_seconds, poll_max_seconds)
    # Never wait past the deadline: the next poll then reports DeadlineExceeded at the deadline itself.
    wait = max(1, min(wait, deadline_seconds - job.waited_seconds))
    return job.model_copy(update={**done, "wait_seconds": wait, "waited_seconds": job.waited_seconds + wait})
