"""Load the report from a lake directory written by `recflow local run` (laid out like the S3 bucket)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recflow.report import aggregate
from recflow.report.model import COUNTS, PHASES, PhaseRow, Report, ReportError, RunReport
from recflow.run_summary import Summary


def load_lake(lake: Path, last: int) -> Report:
    """The newest ``last`` runs of the lake, newest first (by when each run started)."""
    if not lake.is_dir():
        raise ReportError(f"lake directory {lake} does not exist: pass the --lake of `recflow local run`")
    runs = [_LakeRun.read(path) for path in (lake / "runs").glob("*/summary.json")]
    if not runs:
        raise ReportError(
            f"lake {lake} has no runs (no runs/*/summary.json): run `recflow local run --raw FILE --lake {lake}` "
            "first, or for `recflow local serve`'s lake use `recflow aws report --endpoint-url …`"
        )
    newest = sorted(runs, key=lambda run: run.started, reverse=True)[:last]
    return Report(title=f"lake {lake.resolve()}", generated=datetime.now(UTC), runs=[_run(lake, run) for run in newest])


@dataclass(frozen=True)
class _LakeRun:
    summary: Summary | ReportError  # a summary that does not parse fails the report only if it is shown
    started: datetime

    @classmethod
    def read(cls, path: Path) -> _LakeRun:
        try:
            summary: Summary | ReportError = Summary.model_validate_json(path.read_bytes())
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the file"
            summary = ReportError(
                f"{path} is not a run summary ({where}: {first['msg']}): rerun the run or remove its directory"
            )
        # A summary written before it recorded `started` is written when its run ends: its file's time less the
        # run's wall time dates it.
        finished = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if isinstance(summary, ReportError):
            started = finished
        else:
            started = summary.started or finished - timedelta(seconds=summary.wall_seconds)
        return cls(summary, started)


def _run(lake: Path, run: _LakeRun) -> RunReport:
    if isinstance(run.summary, ReportError):
        raise run.summary
    summary = run.summary
    run_id = summary.run_id
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
        started=run.started,
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
