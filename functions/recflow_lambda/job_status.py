"""check_job's state logic: the next JobState from the status Personalize reports (pure, no I/O).

A job that cannot succeed any more raises the error the state machine catches by name (JobFailed,
JobStopped, DeadlineExceeded, UnexpectedJobStatus); a running job gets its next wait (``poll_wait_seconds``).

The wait policy, with ``t`` the seconds since the job started and ``m`` PollMinSeconds:

- no history (first run, or past what history expects): wait max(m, 10% of t), less up to 10% jitter.
  A poll at t that saw the job running proves it runs longer than t, so its end is noticed within
  max(m, 10% of its duration), and the waits grow geometrically: 24 h takes about 70 polls.
- with history (the job ran at least S..L seconds in recent successful runs): one sleep until
  S − max(m/2, 5% of S), then waits of max(m/2, 2% of t) until max(m, 10% of L) past L (where a first
  run's poll grid puts the end at the latest), then the first-run rule.
  A job that lasts about as long as before is noticed within max(m/2, 2%) in about 10 polls; when recent
  runs disagree by more than ~25%, the window's 12 polls set the step instead. A job that ends before
  the sleep is over is noticed when the sleep ends; its run then lowers S for the next ones.
"""

import math

from recflow_lambda.backoff import shortened_seconds
from recflow_lambda.errors import DeadlineExceeded, JobFailed, JobStopped, UnexpectedJobStatus
from recflow_lambda.models import Expectation, JobState

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

FIRST_RUN_SHARE = 0.10  # of the elapsed time: the first-run lag bound
EXPECTED_SHARE = 0.02  # of the elapsed time, near the expected end: the lag bound with history
LEAD_SHARE = 0.05  # tight polling starts this share before the shortest recent duration
OVERRUN_SHARE = FIRST_RUN_SHARE  # and lasts until this share (at least PollMinSeconds) past the longest
WINDOW_POLLS = 12  # the most polls the tight window takes, however far apart recent durations are
JITTER_SHARE = 0.10  # of a first-run wait, taken off it


def poll_wait_seconds(elapsed: int, polls: int, expected: Expectation | None, *, min_seconds: int, seed: str) -> int:
    """Seconds to wait after poll number ``polls`` saw the job running ``elapsed`` seconds after its start."""
    first_run = shortened_seconds(seed, polls, max(min_seconds, FIRST_RUN_SHARE * elapsed), JITTER_SHARE)
    if expected is None:
        return first_run
    tight_floor = min_seconds / 2
    start = expected.shortest_seconds - max(tight_floor, LEAD_SHARE * expected.shortest_seconds)
    # A first-run poll that saw the job running at L was at most max(m, 10% of L) before its end.
    end = expected.longest_seconds + max(min_seconds, OVERRUN_SHARE * expected.longest_seconds)
    if elapsed < start:
        return max(1, math.ceil(start - elapsed))
    if elapsed < end:
        return max(1, math.floor(max(tight_floor, EXPECTED_SHARE * elapsed, (end - start) / WINDOW_POLLS)))
    return first_run


def next_job_state(
    job: JobState,
    status: str,
    failure_reason: str | None,
    *,
    deadline_seconds: int,
    poll_min_seconds: int,
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
    wait = poll_wait_seconds(job.waited_seconds, polls, job.expected, min_seconds=poll_min_seconds, seed=job.arn)
    # Never wait past the deadline: the next poll then raises DeadlineExceeded at the deadline itself.
    wait = max(1, min(wait, deadline_seconds - job.waited_seconds))
    return job.model_copy(
        update={
            "polls": polls,
            "status": status,
            "wait_seconds": wait,
            "waited_seconds": job.waited_seconds + wait,
            "running_seconds": job.waited_seconds,
        }
    )
