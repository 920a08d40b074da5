"""How the local Personalize service behaves: simulated job durations, quotas and injected faults."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Phase = Literal["import", "train", "batch"]
Fault = Literal["fail", "stop", "stall", "throttle", "busy"]

PHASES: tuple[Phase, ...] = ("import", "train", "batch")

# Simulated seconds from creation to ACTIVE. Real jobs take longer (a batch job alone needs ~30
# minutes); these keep an offline run's simulated timeline short while still making the pipeline
# poll several times per phase.
DEFAULT_JOB_SECONDS: dict[Phase, float] = {"import": 180.0, "train": 600.0, "batch": 300.0}

# Personalize's default quotas for jobs that are CREATE PENDING or CREATE IN_PROGRESS at once.
DEFAULT_MAX_ACTIVE_JOBS: dict[Phase, int] = {"import": 5, "train": 20, "batch": 5}

# Per-phase settings: their defaults and the least value allowed.
_PER_PHASE: dict[str, tuple[dict[Phase, float], float]] = {
    "job_seconds": (dict(DEFAULT_JOB_SECONDS), 0),
    "max_active_jobs": (dict(DEFAULT_MAX_ACTIVE_JOBS), 1),
}


class LocalSettings(BaseModel):
    """Settings of one PersonalizeBackend (all times are simulated seconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_seconds: dict[Phase, float] = Field(default_factory=lambda: dict(DEFAULT_JOB_SECONDS))
    """Creation to completion per phase; phases left out keep their default."""
    pending_seconds: float = Field(default=10.0, ge=0)
    """How long a job stays CREATE PENDING before CREATE IN_PROGRESS (capped by its job_seconds)."""
    resource_seconds: float = Field(default=5.0, ge=0)
    """How long dataset groups, datasets and solutions stay CREATE PENDING before ACTIVE."""
    faults: dict[Phase, Fault] = Field(default_factory=dict)
    """fail: CREATE FAILED; stop: CREATE STOPPED; stall: CREATE IN_PROGRESS forever;
    throttle: the create call raises LimitExceededException `throttle_count` times, then succeeds;
    busy: the same with ResourceInUseException (as when another job holds the dataset or solution)."""
    throttle_count: int = Field(default=2, ge=0)
    """How many creates a throttle or busy fault refuses before one gets through."""
    max_active_jobs: dict[Phase, int] = Field(default_factory=lambda: dict(DEFAULT_MAX_ACTIVE_JOBS))
    """Concurrency quota per phase; phases left out keep their default."""
    seed: int = 0
    """Seed passed to the recommender so training is reproducible."""
    filter_recent_per_event_type: int = Field(default=100, ge=1)
    """How many of a user's most recent interactions per event type filters consider (Personalize's
    default quota, adjustable there too): older ones do not count as seen."""

    @field_validator("job_seconds", "max_active_jobs")
    @classmethod
    def _complete_per_phase(cls, value: dict[Phase, float], info: ValidationInfo) -> dict[Phase, float]:
        """Phases left out keep their default."""
        defaults, minimum = _PER_PHASE[str(info.field_name)]
        if any(number < minimum for number in value.values()):
            raise ValueError(f"{info.field_name} must be {minimum} or more for every phase")
        return {**defaults, **value}
