"""Load the report from a lake directory written by `recflow local run` (laid out like the S3 bucket)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from recflow.report import aggregate
from recflow.report.model import COUNTS, PHASES, PhaseRow, Report, ReportError, RunReport


class JobPhase(BaseModel):
    status: str = "NOT_STARTED"
    job_seconds: float | None = None
    polls: int = 0


class Summary(BaseModel):
    """The fields of recflow.offline.summary.Summary the report reads (that module imports moto: seconds)."""

    run_id: str
    status: str
    wall_seconds: float
    phases: dict[str, JobPhase]
    counts: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    failed_phase: str | None = None
    error: str | None = None
    cause: str | None = None
    phase_wall_seconds: dict[str, float] = Field(default_factory=dict)


def load_lake(lake: Path, last: int) -> Report:
    """The newest ``last`` runs of the lake, newest first."""
    if not lake.is_dir():
        raise ReportError(f"lake directory {lake} does not exist: pass the --lake of `recflow local run`")
    # A summary is written when its run ends: its modification time orders the runs.
    summaries = sorted((lake / "runs").glob("*/summary.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    if not summaries:
        raise ReportError(
            f"lake {lake} has no runs (no runs/*/summary.json): run `recflow local run --raw FILE --lake {lake}` "
            "first, or for `recflow local serve`'s lake use `recflow aws report --endpoint-url …`"
        )
    return Report(
        title=f"lake {lake.resolve()}",
        generated=datetime.now(UTC),
        runs=[_run(lake, path) for path in summaries[:last]],
    )


def _summary(path: Path) -> Summary:
    try:
        return Summary.model_validate_json(path.read_bytes())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ReportError(
            f"{path} is not a run summary ({where}: {first['msg']}): rerun the run or remove its directory"
        ) from None


def _run(lake: Path, path: Path) -> RunReport:
    summary = _summary(path)
    run_id = summary.run_id
    finished = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    report_path = lake / "transformed" / run_id / "report.json"
    etl_report: dict[str, Any] = json.loads(report_path.read_text()) if report_path.is_file() else summary.counts
    phases = []
    for phase in PHASES:
        job = summary.phases.get(phase)
        started_job = job is not None and job.status != "NOT_STARTED"
        phases.append(
            PhaseRow(
                phase=phase,
                seconds=summary.phase_wall_seconds.get(phase),
                job_status=job.status if job and started_job else None,
                job_seconds=job.job_seconds if job and started_job else None,
                polls=job.polls if job and started_job else None,
            )
        )
    return RunReport(
        run_id=run_id,
        status=summary.status,
        started=finished - timedelta(seconds=summary.wall_seconds),
        seconds=summary.wall_seconds,
        failed_phase=summary.failed_phase,
        error=summary.error,
        cause=summary.cause,
        phases=phases,
        counts={name: etl_report[name] for name in COUNTS if isinstance(etl_report.get(name), int)},
        rejects=aggregate.rejects(
            etl_report.get("rejects_by_reason") or {}, sorted((lake / "rejects" / run_id).glob("part-*.json"))
        ),
        metrics=summary.metrics,
        data=aggregate.run_data(
            sorted((lake / "transformed" / run_id / "interactions").glob("part-*.csv")),
            sorted((lake / "recommendations" / run_id).glob("*.out")),
        ),
    )
