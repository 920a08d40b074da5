"""What the report shows, whatever it was loaded from: runs, their phases, counts, rejects, metrics and data."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

# Every phase of a run, in order (recflow_lambda.naming.RunPhase); Glue and Personalize run jobs in four.
PHASES = ("etl", "data", "import", "train", "batch", "finish")
# The ETL report's counts the page shows, in this order.
COUNTS = ("lines_read", "rejected", "duplicates_dropped", "below_min_rating", "interactions", "users", "items")


class ReportError(Exception):
    """An expected failure (no runs, a missing lake, an unwritable page), told in one sentence."""


class PhaseRow(BaseModel):
    phase: str
    seconds: float | None = None  # wall-clock seconds the execution spent in the phase's states
    job_status: str | None = None  # the Glue or Personalize job's last status
    job_seconds: float | None = None  # how long the job ran, on the pipeline's clock (simulated offline)
    polls: int | None = None


class RejectReason(BaseModel):
    reason: str
    lines: int
    example: str | None = None  # one rejected line as it was read


class Degree(BaseModel):
    """How many users (or items) have ``interactions`` interactions."""

    interactions: int
    count: int


class PopularityLevel(BaseModel):
    """The items with ``interactions`` interactions (0: recommended but absent from the run's data)."""

    interactions: int
    items: int
    recommended: int  # slots of recommendation lists that hold one of these items
    recommended_items: int  # how many of these items were recommended at least once


class RunData(BaseModel):
    """The run's transformed interactions and recommendations, aggregated."""

    per_user: list[Degree]
    popularity: list[PopularityLevel]

    @property
    def per_item(self) -> list[Degree]:
        return [Degree(interactions=level.interactions, count=level.items) for level in self.popularity if level.items]

    @property
    def recommendations(self) -> int:
        return sum(level.recommended for level in self.popularity)

    @property
    def interacted_popularity(self) -> float:
        """Mean popularity (interactions of the item) of an interaction."""
        total = sum(level.interactions * level.items for level in self.popularity)
        return sum(level.interactions**2 * level.items for level in self.popularity) / total if total else 0.0

    @property
    def recommended_popularity(self) -> float:
        """Mean popularity of a recommended item, each recommendation counted once."""
        total = self.recommendations
        return sum(level.interactions * level.recommended for level in self.popularity) / total if total else 0.0

    @property
    def catalog_coverage(self) -> float:
        """Share of the run's items recommended to someone."""
        items = sum(level.items for level in self.popularity if level.interactions)
        covered = sum(level.recommended_items for level in self.popularity if level.interactions)
        return covered / items if items else 0.0


class RunReport(BaseModel):
    run_id: str
    status: str
    started: datetime | None = None
    seconds: float | None = None
    failed_phase: str | None = None
    error: str | None = None
    cause: str | None = None
    phases: list[PhaseRow] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    rejects: list[RejectReason] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    data: RunData | None = None  # None when the run wrote no transformed interactions


class Report(BaseModel):
    title: str  # what was read: the lake directory or the stack
    generated: datetime
    runs: list[RunReport]  # newest first

    @property
    def metric_names(self) -> list[str]:
        return sorted({name for run in self.runs for name in run.metrics})
