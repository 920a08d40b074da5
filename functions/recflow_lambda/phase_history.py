"""How long each Personalize phase took in recent successful runs: ``history/phase-durations.json``.

FinishRun appends the run's jobs; the start of each job reads its phase's expectation, which check_job's
wait policy (job_status.py) uses to sleep until shortly before the job's expected end. A missing or
unreadable file means "no history": the first-run policy applies, and the next successful run rewrites it.

Each entry keeps what the polls proved: the job was still running ``seconds`` after its start and was seen
finished ``noticed_after_seconds`` after it. The expectation uses the first, so it never lies past the end.
"""

from pydantic import BaseModel, Field, NonNegativeInt, PositiveInt

from recflow_lambda import storage
from recflow_lambda.models import Expectation, JobState
from recflow_lambda.naming import Phase
from recflow_lambda.observability import logger

HISTORY_KEY = "history/phase-durations.json"
# Entries kept per phase, and how many of the newest make the expectation (data grows: old runs say less).
KEPT_RUNS = 10
EXPECTATION_RUNS = 5


class PhaseRun(BaseModel):
    run_id: str
    seconds: NonNegativeInt
    noticed_after_seconds: NonNegativeInt


class PhaseHistory(BaseModel):
    version: PositiveInt = 1
    phases: dict[Phase, list[PhaseRun]] = Field(default_factory=dict)

    def with_jobs(self, run_id: str, jobs: list[JobState]) -> "PhaseHistory":
        """This history plus the run's jobs that were seen running (a job found finished at once proves nothing)."""
        phases = {phase: list(runs) for phase, runs in self.phases.items()}
        for job in jobs:
            if job.polls < 2:  # only the polls before the one that found it ACTIVE saw it running
                continue
            runs = [run for run in phases.get(job.phase, []) if run.run_id != run_id]
            runs.append(PhaseRun(run_id=run_id, seconds=job.running_seconds, noticed_after_seconds=job.waited_seconds))
            phases[job.phase] = runs[-KEPT_RUNS:]
        return PhaseHistory(phases=phases)

    def expectation(self, phase: Phase) -> Expectation | None:
        recent = self.phases.get(phase, [])[-EXPECTATION_RUNS:]
        if not recent:
            return None
        seconds = [run.seconds for run in recent]
        return Expectation(shortest_seconds=min(seconds), longest_seconds=max(seconds), runs=len(recent))


def read_history(bucket: str) -> PhaseHistory:
    # Listed first: a GetObject on a missing key is AccessDenied, not NoSuchKey, for a role that may not
    # list the whole bucket; listing the one key needs only s3:ListBucket on the history/ prefix.
    if HISTORY_KEY not in storage.list_keys(bucket, HISTORY_KEY):
        return PhaseHistory()
    try:
        return PhaseHistory.model_validate(storage.read_json(bucket, HISTORY_KEY))
    except ValueError as exc:  # not JSON (JSONDecodeError) or not a history (ValidationError)
        # Losing the history only costs polls: the run goes on, and FinishRun writes a valid file.
        logger.warning("phase history unreadable, polling without it", extra={"key": HISTORY_KEY, "error": str(exc)})
        return PhaseHistory()


def read_expectation(bucket: str, phase: Phase) -> Expectation | None:
    return read_history(bucket).expectation(phase)


def record_jobs(bucket: str, run_id: str, jobs: list[JobState]) -> PhaseHistory:
    """Append the run's jobs to the history in the bucket; returns what was written."""
    history = read_history(bucket).with_jobs(run_id, jobs)
    storage.put_json(bucket, HISTORY_KEY, history.model_dump(mode="json"))
    return history
