"""How the local Personalize service behaves: simulated job durations, quotas and injected faults."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Phase = Literal["import", "train", "batch"]
Fault = Literal["fail", "stop", "stall", "throttle"]

PHASES: tuple[Phase, ...] = ("import", "train", "batch")

# Simulated seconds from creation to ACTIVE. Real jobs take longer (a batch job alone needs ~30
# minutes); these keep an offline run's simulated timeline short while still making the pipeline
# poll several times per phase.
DEFAULT_JOB_SECONDS: dict[Phase, float] = {"import": 180.0, "train": 600.0, "batch": 300.0}

# Personalize's default quotas for jobs that are CREATE PENDING or CREATE IN_PROGRESS at once.
DEFAULT_MAX_ACTIVE_JOBS: dict[Phase, int] = {"import": 5, "train": 20, "batch": 5}


class LocalSettings(BaseModel):
    """Settings of one LocalPersonalize instance (all times are simulated seconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_seconds: dict[Phase, float] = Field(default_factory=lambda: dict(DEFAULT_JOB_SECONDS))
    """Creation to completion per phase; phases left out keep their default."""
    pending_seconds: float = Field(default=10.0, ge=0)
    """How long a job stays CREATE PENDING before CREATE IN_PROGRESS (capped by its job_seconds)."""
    resource_seconds: float = Field(default=5.0, ge=0)
    """How long dataset groups, datasets and solutions stay CREATE PENDING before ACTIVE."""
    faults: dict[Phase, Fault] = Field(default_factory=dict)
    """fail: CREATE FAILED; stop: CREATE STOPPED; stall: CREATE IN_PROGRESS forever;
    throttle: the create call raises LimitExceededException `throttle_count` times, then succeeds."""
    throttle_count: int = Field(default=2, ge=0)
    max_active_jobs: dict[Phase, int] = Field(default_factory=lambda: dict(DEFAULT_MAX_ACTIVE_JOBS))
    """Concurrency quota per phase; phases left out keep their default."""
    seed: int = 0
    """Seed passed to the recommender so training is reproducible."""

    @field_validator("job_seconds")
    @classmethod
    def _complete_job_seconds(cls, value: dict[Phase, float]) -> dict[Phase, float]:
        if any(seconds < 0 for seconds in value.values()):
            raise ValueError("job_seconds must be 0 or more for every phase")
        return {**DEFAULT_JOB_SECONDS, **value}

    @field_validator("max_active_jobs")
    @classmethod
    def _complete_max_active_jobs(cls, value: dict[Phase, int]) -> dict[Phase, int]:
        if any(limit < 1 for limit in value.values()):
            raise ValueError("max_active_jobs must be 1 or more for every phase")
        return {**DEFAULT_MAX_ACTIVE_JOBS, **value}
