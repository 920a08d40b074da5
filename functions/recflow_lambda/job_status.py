"""check_job's state logic: the next JobState from the status Personalize reports (pure, no I/O).

A job that cannot succeed any more raises the error the state machine catches by name (JobFailed,
JobStopped, DeadlineExceeded, UnexpectedJobStatus); a running job gets its next wait.
"""

from recflow_lambda.backoff import equal_jitter_seconds
from recflow_lambda.errors import DeadlineExceeded, JobFailed, JobStopped, UnexpectedJobStatus
from recflow_lambda.models import JobState

ACTIVE = "ACTIVE"
FAILED = "CREATE FAILED"
STOPPED = frozenset({"CREATE STOPPING", "CREATE STOPPED"})
# Batch inference jobs are documented with PENDING / IN PROGRESS but report the CREATE ones too.
RUNNING = frozenset({"CREATE PENDING", "PENDING", "CREATE IN_PROGRESS", "IN PROGRESS"})
JOB_KIND = {"import": "dataset import", "train": "training", "batch": "batch inference"}
DEADLINE_PARAMETER = {
    "import": "ImportDeadlineSeconds",
    "train": "TrainingDeadlineSeconds",
    "batch": "BatchDeadlineSeconds",
}


def next_job_state(
    job: JobState,
    status: str,
    failure_reason: str | None,
    *,
    deadline_seconds: int,
    poll_min_seconds: int,
    poll_max_seconds: int,
) -> JobState:
    """Count the poll and record ``status`` verbatim with the next wait; raise when the job cannot succeed."""
    polls = job.polls + 1
    what = f"Personalize {JOB_KIND[job.phase]} job {job.name}"
    if status == ACTIVE:
        return job.model_copy(update={"polls": polls, "status": status, "wait_seconds": 0})
    if status == FAILED:
        reason = (failure_reason or "Personalize gave no reason").rstrip(".")
        raise JobFailed(f"{what} failed in phase {job.phase}: {reason}.")
    if status in STOPPED:
        raise JobStopped(f"{what} was stopped ({status}) in phase {job.phase}; start a new run to try again.")
    if status not in RUNNING:
        raise UnexpectedJobStatus(
            f"{what} has status {status} in phase {job.phase}, which the pipeline does not expect; "
            "look at the job in the Personalize console."
        )
    if job.waited_seconds >= deadline_seconds:
        raise DeadlineExceeded(
            f"{what} did not finish in {deadline_seconds} s in phase {job.phase} (still {status}); "
            f"raise {DEADLINE_PARAMETER[job.phase]} if it needs longer."
        )
    wait = equal_jitter_seconds(job.arn, polls, poll_min_seconds, poll_max_seconds)
    # Never wait past the deadline: the next poll then raises DeadlineExceeded at the deadline itself.
    wait = max(1, min(wait, deadline_seconds - job.waited_seconds))
    return job.model_copy(
        update={"polls": polls, "status": status, "wait_seconds": wait, "waited_seconds": job.waited_seconds + wait}
    )
