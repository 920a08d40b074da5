"""The run summary: what happened in a pipeline run, read from the execution history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from recflow_lambda.failures import readable_cause

from recflow.offline.glue_local import GlueLocal
from recflow.offline.moto_extensions import SYNC_POLL_SECONDS
from recflow.personalize_local.service import LocalPersonalize

# Where the state machine keeps each Personalize phase's JobState.
JOB_PATHS = {"import": "import", "train": "training", "batch": "batch"}


class Phase(BaseModel):
    status: str = "NOT_STARTED"
    job_seconds: float | None = None  # how long the job took, in pipeline time
    detected_after_seconds: float | None = None  # when the pipeline moved on, from the job's start
    polls: int = 0


class Summary(BaseModel):
    run_id: str
    status: str
    wall_seconds: float
    state_transitions: int
    phases: dict[str, Phase]
    counts: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    failed_phase: str | None = None
    error: str | None = None
    cause: str | None = None
    recommendations: list[str] = Field(default_factory=list)  # lake keys of the .out files
    phase_wall_seconds: dict[str, float] = Field(default_factory=dict)  # real seconds spent per phase
    execution_arn: str

    def write(self, lake: Path) -> Path:
        path = lake / "runs" / self.run_id / "summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path


def build_summary(
    history: list[dict[str, Any]],
    execution: dict[str, Any],
    wall_seconds: float,
    glue: GlueLocal,
    personalize: LocalPersonalize,
    lake_keys: list[str],
    etl_report: dict[str, Any] | None = None,
) -> Summary:
    exits = [json.loads(e["stateExitedEventDetails"]["output"]) for e in history if "stateExitedEventDetails" in e]
    latest: dict[str, Any] = {}
    for output in exits:  # the newest value of each path the state machine keeps
        if isinstance(output, dict):
            latest.update({k: v for k, v in output.items() if v is not None})
    failure = next((e["executionFailedEventDetails"] for e in history if "executionFailedEventDetails" in e), {})
    return Summary(
        run_id=execution["name"],
        status=execution["status"],
        wall_seconds=round(wall_seconds, 2),
        state_transitions=sum("stateEnteredEventDetails" in e for e in history),
        phases={"etl": _etl_phase(glue), **_job_phases(latest, personalize)},
        counts=latest.get("data") or etl_report or {},  # a failed data check still has the ETL's counts
        metrics=(latest.get("result") or {}).get("metrics", {}),
        failed_phase=latest.get("failed_phase"),
        error=failure.get("error"),
        cause=readable_cause(failure["cause"]) if failure.get("cause") else None,
        recommendations=sorted(k for k in lake_keys if k.startswith("recommendations/") and k.endswith(".out")),
        execution_arn=execution["executionArn"],
        phase_wall_seconds=_wall_seconds_by_phase(history),
    )


# State names mention their phase; the first match wins ("Prepare batch input" is data preparation).
_PHASE_WORDS = (
    ("etl", "etl"),
    ("transform", "etl"),
    ("data", "data"),
    ("batch input", "data"),
    ("import", "import"),
    ("training", "train"),
    ("batch", "batch"),
    ("recommendations", "batch"),
)


def _wall_seconds_by_phase(history: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    entered: dict[str, Any] = {}
    for event in history:
        if "stateEnteredEventDetails" in event:
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            phase = next((p for word, p in _PHASE_WORDS if word in name.lower()), "finish")
            seconds = (event["timestamp"] - entered.pop(name, event["timestamp"])).total_seconds()
            totals[phase] = round(totals.get(phase, 0.0) + seconds, 3)
    return totals


def _etl_phase(glue: GlueLocal) -> Phase:
    if not glue.runs:
        return Phase()
    run = glue.runs[-1]
    waited = glue.clock.now() - run.started_at if run.state == "RUNNING" else 0.0
    status = "TIMEOUT" if run.state == "RUNNING" else run.state
    return Phase(
        status=status,
        job_seconds=round(run.wall_seconds, 3),
        detected_after_seconds=round(max(waited, run.wall_seconds), 3),
        polls=1 + int(waited // SYNC_POLL_SECONDS),
    )


def _job_phases(latest: dict[str, Any], personalize: LocalPersonalize) -> dict[str, Phase]:
    durations = {job["arn"]: job.get("job_seconds") for job in personalize.job_records()}
    phases = {}
    for phase, path in JOB_PATHS.items():
        job = latest.get(path)
        if not isinstance(job, dict) or "arn" not in job:
            phases[phase] = Phase()
            continue
        phases[phase] = Phase(
            status=job["status"],
            job_seconds=durations.get(job["arn"]),
            detected_after_seconds=job["waited_seconds"],
            polls=job["polls"],
        )
    return phases
