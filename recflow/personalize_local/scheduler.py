"""When local Personalize jobs run: admission against quotas and injected throttles, their timeline on
the simulated clock, and their real work, done once when a request first observes a job past its due
time (nothing runs in the background, so a run is reproducible).
"""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from recflow.personalize_local.errors import PersonalizeError, in_use, limit_exceeded
from recflow.personalize_local.interactions import DataError
from recflow.personalize_local.resources import ACTIVE, CREATE_FAILED, CREATE_STOPPED, Job, JobRecord
from recflow.personalize_local.s3_objects import S3Problem
from recflow.personalize_local.settings import PHASES, LocalSettings, Phase

JobT = TypeVar("JobT", bound=Job)
JobWork = Callable[[Job, float], int]  # does a job's work at simulated time `now`; returns its record count


_QUOTA_NAMES: dict[Phase, str] = {
    "import": "dataset import jobs",
    "train": "solution versions being created",
    "batch": "batch inference jobs",
}

# What an injected busy fault says is in use. For real, the service answers ResourceInUseException when what a
# creation builds on is not ACTIVE yet (backend.py: a dataset, solution or solution version still being created).
_BUSY_REASONS: dict[Phase, str] = {
    "import": "The dataset is in use by another job",
    "train": "The solution is in use by another job",
    "batch": "The solution version is in use by another job",
}


class JobScheduler:
    """Every job of one backend, in creation order; deleting a resource does not forget its jobs."""

    def __init__(self, settings: LocalSettings, work: JobWork) -> None:
        self.settings = settings
        self._work = work
        self._history: list[Job] = []
        # Injected throttles per phase: in all, and since the last create that got through.
        self._throttled: dict[Phase, int] = dict.fromkeys(PHASES, 0)
        self._unclaimed_throttles: dict[Phase, int] = dict.fromkeys(PHASES, 0)

    def admit(self, phase: Phase, now: float) -> int:
        """Raise LimitExceededException for an injected throttle or a full quota, ResourceInUseException for
        an injected busy fault; else how many injected refusals preceded this successful create."""
        name = _QUOTA_NAMES[phase]
        fault = self.settings.faults.get(phase)
        if fault in ("throttle", "busy") and self._throttled[phase] < self.settings.throttle_count:
            self._throttled[phase] += 1
            self._unclaimed_throttles[phase] += 1
            raise self._injected_refusal(phase, fault == "busy")
        running = sum(job.is_running(now) for job in self._history if job.phase == phase)
        limit = self.settings.max_active_jobs[phase]
        if running >= limit:
            raise limit_exceeded(
                f"You have reached the limit of {limit} concurrent {name}; retry when one has finished."
            )
        throttled, self._unclaimed_throttles[phase] = self._unclaimed_throttles[phase], 0
        return throttled

    def _injected_refusal(self, phase: Phase, busy: bool) -> PersonalizeError:
        count = f"{self._throttled[phase]} of {self.settings.throttle_count}"
        if busy:
            return in_use(f"{_BUSY_REASONS[phase]} (injected fault, {count}); retry later.")
        return limit_exceeded(
            f"You have reached the limit of concurrent {_QUOTA_NAMES[phase]} (injected fault, {count}); retry later."
        )

    def job(self, phase: Phase, kind: str, name: str | None, arn: str, now: float) -> dict[str, Any]:
        """Admit a job created now (raising LimitExceededException, see `admit`), and schedule it: the
        Job fields that place it on the timeline."""
        throttled = self.admit(phase, now)
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

    def remember(self, job: JobT) -> JobT:
        self._history.append(job)
        return job

    def observe(self, job: Job, now: float) -> None:
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
            self._run(job, now)
        job.observed = now

    def records(self, now: float) -> list[JobRecord]:
        return [job.record(now) for job in self._history]

    def _run(self, job: Job, now: float) -> None:
        started = time.perf_counter()
        try:
            job.records = self._work(job, now)
            job.final_status = ACTIVE
        except (DataError, S3Problem) as exc:
            job.final_status = CREATE_FAILED
            job.failure_reason = str(exc)
        job.work_wall_seconds = round(time.perf_counter() - started, 6)
