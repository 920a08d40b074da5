"""The run summary, `<lake>/runs/<run-id>/summary.json`: what happened in an offline pipeline run.

Only the model: recflow.offline.summary builds it from a run (and imports moto, seconds to load), while the
report reads it with this module alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field


class LambdaUsage(BaseModel):
    """One function's invocations in a run, against its MemorySize and Timeout."""

    invocations: int
    errors: int  # invocations that ended in a function error (a limit's or the handler's own)
    max_memory_mb: float
    memory_limit_mb: int
    max_seconds: float
    timeout_seconds: int


class LargestPayload(BaseModel):
    state: str
    kind: str  # "input", "output", or "result" (a task's result before ResultSelector/ResultPath)
    bytes: int
    limit_bytes: int  # Step Functions' limit on it (recflow.offline.limits.PAYLOAD_LIMIT_BYTES)


class Phase(BaseModel):
    status: str = "NOT_STARTED"
    job_seconds: float | None = None  # how long the job took, in pipeline time
    detected_after_seconds: float | None = None  # when the pipeline moved on, from the job's start
    polls: int = 0


class Summary(BaseModel):
    run_id: str
    status: str
    # When the execution started, in UTC, as Step Functions' startDate. None in a summary written before
    # the field existed: the report then dates the run from the file.
    started: AwareDatetime | None = None
    wall_seconds: float
    state_transitions: int
    phases: dict[str, Phase]
    counts: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    # The trained model: algorithm, EASE's λ ("penalty"), the recency weight τ ("recency", None: none), and
    # the decision (which algorithm and why: the cost estimates it was chosen on). Empty when none trained.
    training: dict[str, Any] = Field(default_factory=dict)
    failed_phase: str | None = None
    error: str | None = None
    cause: str | None = None
    recommendations: list[str] = Field(default_factory=list)  # lake keys of the .out files
    phase_wall_seconds: dict[str, float] = Field(default_factory=dict)  # real seconds spent per phase
    lambdas: dict[str, LambdaUsage] = Field(default_factory=dict)  # by function name: against MemorySize, Timeout
    largest_payload: LargestPayload | None = None  # the largest state input, output or task result seen
    execution_arn: str

    def write(self, lake: Path) -> Path:
        path = lake / "runs" / self.run_id / "summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path
