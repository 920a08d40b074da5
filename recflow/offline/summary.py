"""Building the run summary (recflow.run_summary) from a pipeline run's execution history and local services."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any

from recflow_lambda.failures import readable_cause
from recflow_lambda.naming import Phase as JobPhase

from recflow.execution_history import JOB_PATHS, latest_outputs, polls_by_phase, wall_seconds_by_phase
from recflow.offline.glue_local import GlueLocal
from recflow.offline.limits import Invocation, lambda_usage, largest_payload
from recflow.offline.moto_extensions import SYNC_POLL_SECONDS
from recflow.personalize_local.backend import PersonalizeBackend
from recflow.personalize_local.errors import PersonalizeError
from recflow.run_summary import Phase, Summary

__all__ = ["Phase", "Summary", "build_summary"]  # the model is re-exported for the offline runtime's callers


def build_summary(
    history: list[dict[str, Any]],
    execution: dict[str, Any],
    wall_seconds: float,
    glue: GlueLocal,
    personalize: PersonalizeBackend,
    lake_keys: list[str],
    etl_report: dict[str, Any] | None = None,
    lambda_invocations: Iterable[Invocation] = (),
) -> Summary:
    latest = latest_outputs(history)
    failure: dict[str, Any] = next(
        (e["executionFailedEventDetails"] for e in history if "executionFailedEventDetails" in e), {}
    )
    return Summary(
        run_id=execution["name"],
        status=execution["status"],
        started=execution["startDate"].astimezone(UTC),
        wall_seconds=round(wall_seconds, 2),
        state_transitions=sum("stateEnteredEventDetails" in e for e in history),
        phases={"etl": _etl_phase(glue), **_job_phases(latest, personalize.job_records(), polls_by_phase(history))},
        counts=latest.get("data") or etl_report or {},  # a failed data check still has the ETL's counts
        metrics=(latest.get("result") or {}).get("metrics", {}),
        training=_training(latest, personalize),
        failed_phase=(latest.get("failed") or {}).get("phase"),
        error=failure.get("error"),
        cause=readable_cause(failure["cause"]) if failure.get("cause") else None,
        recommendations=sorted(k for k in lake_keys if k.startswith("recommendations/") and k.endswith(".out")),
        execution_arn=execution["executionArn"],
        phase_wall_seconds=wall_seconds_by_phase(history),
        lambdas=lambda_usage(lambda_invocations),
        largest_payload=largest_payload(history),
    )


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


def _training(latest: dict[str, Any], personalize: PersonalizeBackend) -> dict[str, Any]:
    """The run's trained model as the summary shows it (recommender.TrainedModel's choices), or {}."""
    job = latest.get(JOB_PATHS["train"])
    if not isinstance(job, dict) or "arn" not in job:
        return {}
    try:
        model = personalize.describe_solution_version(job["arn"]).model
    except PersonalizeError:  # deleted since, or not a local version
        return {}
    return {key: getattr(model, key) for key in ("algorithm", "penalty", "recency", "decision") if hasattr(model, key)}


def _job_phases(
    latest: dict[str, Any], job_records: list[dict[str, Any]], polls: dict[JobPhase, int]
) -> dict[str, Phase]:
    """Each job's phase: its last JobState in the state machine, with the status Personalize ended it in."""
    records = {record["arn"]: record for record in job_records}
    phases: dict[str, Phase] = {}
    for phase, path in JOB_PATHS.items():
        job = latest.get(path)
        if not isinstance(job, dict) or "arn" not in job:
            phases[phase] = Phase()
            continue
        record = records.get(job["arn"], {})
        phases[phase] = Phase(
            # A check that finds the job failed raises, so the state machine's last JobState may be older.
            status=record.get("status") or job["status"],
            job_seconds=record.get("job_seconds"),
            detected_after_seconds=job["waited_seconds"],
            polls=polls[phase],
        )
    return phases
