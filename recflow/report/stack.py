"""Load the report from a deployed stack (AWS or `recflow local serve`): executions, their histories, the ETL
reports, the solution versions' metrics, and the run's objects in the bucket (downloaded, then aggregated)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recflow_lambda.failures import readable_cause

from recflow.execution_history import latest_outputs
from recflow.operator import runs
from recflow.operator.metrics import solution_metrics
from recflow.operator.stack import Stack
from recflow.report import aggregate
from recflow.report.model import COUNTS, PHASES, PhaseRow, Report, ReportError, RunReport


def load_stack(stack: Stack, last: int) -> Report:
    """The newest ``last`` runs of the stack, newest first."""
    executions = runs.list_executions(stack, last)
    if not executions:
        raise ReportError(f"stack {stack.name!r} has no runs yet: start one with `recflow aws run --raw FILE`")
    metrics = {version.arn: version.metrics for version in solution_metrics(stack)}
    where = stack.client("s3").meta.endpoint_url
    return Report(
        title=f"stack {stack.name} (s3://{stack.bucket} at {where})",
        generated=datetime.now(UTC),
        runs=[_run(stack, execution, metrics) for execution in executions],
    )


def _run(stack: Stack, execution: dict[str, Any], metrics: dict[str, dict[str, float]]) -> RunReport:
    run_id, status = execution["name"], execution["status"]
    events = runs.history(stack, execution["executionArn"])
    progress = runs.progress(events, status)
    latest = latest_outputs(events)
    failure: dict[str, Any] = next(
        (e["executionFailedEventDetails"] for e in events if "executionFailedEventDetails" in e), {}
    )
    etl_state = (latest.get("etl") or {}).get("JobRunState")
    phases = [
        PhaseRow(
            phase=phase,
            seconds=progress.phase_seconds.get(phase),
            job_status=etl_state if phase == "etl" else progress.jobs.get(phase, {}).get("status"),
            job_seconds=progress.jobs.get(phase, {}).get("waited_seconds"),
            polls=progress.jobs.get(phase, {}).get("polls"),
        )
        for phase in PHASES
    ]
    report = runs.etl_report(stack, run_id) or {}
    stopped = execution.get("stopDate")
    with tempfile.TemporaryDirectory(prefix="recflow-report-") as scratch:
        files = _download(stack, run_id, Path(scratch))
        data = aggregate.run_data(files["interactions"], files["outputs"])
        rejects = aggregate.rejects(report.get("rejects_by_reason") or {}, files["rejects"])
    return RunReport(
        run_id=run_id,
        status=status,
        started=execution["startDate"].astimezone(UTC),  # the page says UTC; botocore parses to local time
        seconds=(stopped - execution["startDate"]).total_seconds() if stopped else None,
        failed_phase=(latest.get("failed") or {}).get("phase"),
        error=failure.get("error"),
        cause=readable_cause(failure["cause"]) if failure.get("cause") else None,
        phases=phases,
        counts={name: report[name] for name in COUNTS if isinstance(report.get(name), int)},
        rejects=rejects,
        metrics=metrics.get((latest.get("training") or {}).get("arn", ""), {}),
        data=data,
    )


def _download(stack: Stack, run_id: str, into: Path) -> dict[str, list[Path]]:
    """The run's interactions CSVs, rejects files and batch outputs, copied from the bucket into ``into``."""
    wanted = {
        "interactions": (f"transformed/{run_id}/interactions/", ".csv"),
        "rejects": (f"rejects/{run_id}/", ".json"),
        "outputs": (f"recommendations/{run_id}/", ".out"),
    }
    s3 = stack.client("s3")
    found: dict[str, list[Path]] = {}
    for kind, (prefix, suffix) in wanted.items():
        found[kind] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=prefix):
            for key in sorted(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(suffix)):
                path = into / key
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(stack.bucket, key, str(path))
                found[kind].append(path)
    return found
