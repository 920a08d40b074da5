"""check_data: decide whether the ETL output of a run can train a Personalize solution.

It reads only the ETL's report (transformed/<run-id>/report.json): every count it needs, per file too,
is computed by the ETL, so no Lambda reads the interactions themselves.
"""

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from recflow_lambda import storage
from recflow_lambda.errors import DataCheckFailed
from recflow_lambda.minimums import (
    DEFAULT_MAX_REJECTED_SHARE,
    MIN_SHARE_OF_USERS_WITH_2PLUS,
    MIN_TRAINING_INTERACTIONS,
    MIN_TRAINING_USERS,
)
from recflow_lambda.models import EtlReport
from recflow_lambda.observability import logger

TOP_REASONS = 3


class FileCounts(BaseModel):
    """One raw file's entry in the report's "files"."""

    model_config = ConfigDict(extra="ignore")

    data_lines: NonNegativeInt = 0  # lines that were neither header nor blank
    rejected: NonNegativeInt = 0
    top_reasons: dict[str, NonNegativeInt] = Field(default_factory=dict)
    hint: str | None = None


class RejectionPolicy(BaseModel):
    """The report's fields about rejected lines (reports of older ETL versions have none of them)."""

    model_config = ConfigDict(extra="ignore")

    files: dict[str, FileCounts] = Field(default_factory=dict)
    max_rejected_share: float = Field(default=DEFAULT_MAX_REJECTED_SHARE, ge=0, le=1)


def report_key(run_id: str) -> str:
    return f"transformed/{run_id}/report.json"


def check_data(run_id: str, etl_state: str, bucket: str) -> EtlReport:
    """Return the run's ETL report; raise DataCheckFailed when Personalize could not train on it."""
    if etl_state != "SUCCEEDED":
        raise DataCheckFailed(
            f"The ETL job of run {run_id} ended in state {etl_state}, not SUCCEEDED; see its Glue job run log."
        )
    location = storage.s3_uri(bucket, report_key(run_id))
    document = storage.read_json(bucket, report_key(run_id))
    if document is None:
        raise DataCheckFailed(f"The ETL report {location} does not exist; the ETL job did not finish writing.")
    try:
        policy = RejectionPolicy.model_validate(document)
        # The per-file details stay in report.json: with many files they would outgrow the 256 KiB a
        # Step Functions state may pass on.
        report = EtlReport.model_validate({name: value for name, value in document.items() if name != "files"})
    except ValidationError as exc:
        raise DataCheckFailed(
            f"The ETL report {location} is malformed ({exc.error_count()} problems, first: "
            f"{'.'.join(map(str, exc.errors()[0]['loc']))}: {exc.errors()[0]['msg']})."
        ) from exc
    _check(report, run_id, location)
    _check_rejects(report, policy, run_id)
    _check_minimums(report, run_id)
    return report


def _check(report: EtlReport, run_id: str, location: str) -> None:
    if report.run_id != run_id:
        raise DataCheckFailed(f"The ETL report {location} belongs to run {report.run_id}, not {run_id}.")
    accounted = (
        report.header_lines
        + report.blank_lines
        + report.rejected
        + report.duplicates_dropped
        + report.below_min_rating
        + report.interactions
    )
    if accounted != report.lines_read:
        # Every raw line must be either kept or counted as dropped for a reason: never lost silently.
        raise DataCheckFailed(
            f"The ETL report {location} accounts for {accounted} of {report.lines_read} lines read; "
            "the transform lost lines without counting them."
        )


def _reasons(reasons: dict[str, int]) -> str:
    ranked = sorted(reasons.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP_REASONS]
    return "; ".join(f'{lines:,} × "{reason}"' for reason, lines in ranked)


def _check_rejects(report: EtlReport, policy: RejectionPolicy, run_id: str) -> None:
    """Unreadable data fails the run with what is wrong, before any import: a file whose every line was
    rejected, or more rejected lines than MaxRejectedShare allows."""
    where = f"the rejected lines, with their line numbers, are under rejects/{run_id}/"
    unreadable = [
        f"{source}: all {counts.rejected:,} lines rejected; {_reasons(counts.top_reasons)}"
        + (f" — {counts.hint}" if counts.hint else "")
        for source, counts in policy.files.items()
        if counts.data_lines > 0 and counts.rejected == counts.data_lines
    ]
    if unreadable:
        raise DataCheckFailed(f"Run {run_id}: {' | '.join(unreadable)} ({where}).")
    data_lines = report.lines_read - report.header_lines - report.blank_lines
    if report.rejected == 0 or data_lines == 0:
        return
    share = report.rejected / data_lines
    summary = f"{report.rejected:,} of {data_lines:,} lines rejected ({share:.1%}); top reasons: "
    summary += _reasons(report.rejects_by_reason)
    if share > policy.max_rejected_share:
        raise DataCheckFailed(
            f"Run {run_id}: {summary}. That is more than MaxRejectedShare={policy.max_rejected_share:g} allows: "
            f"fix the files under raw/ or raise MaxRejectedShare ({where})."
        )
    logger.warning(summary, extra={"run_id": run_id, "rejected": report.rejected})


def _check_minimums(report: EtlReport, run_id: str) -> None:
    if report.interactions < MIN_TRAINING_INTERACTIONS:
        raise DataCheckFailed(
            f"Run {run_id} has {report.interactions} interactions after the ETL ({report.rejected} lines "
            f"rejected); Amazon Personalize needs at least {MIN_TRAINING_INTERACTIONS}: upload more data under raw/."
        )
    if report.users_with_2plus < MIN_TRAINING_USERS:
        raise DataCheckFailed(
            f"Run {run_id} has {report.users_with_2plus} users with 2 or more interactions; Amazon "
            f"Personalize needs at least {MIN_TRAINING_USERS}: upload more data under raw/."
        )
    if report.users and report.users_with_2plus / report.users < MIN_SHARE_OF_USERS_WITH_2PLUS:
        raise DataCheckFailed(
            f"Run {run_id}: only {report.users_with_2plus:,} of {report.users:,} users have 2 or more interactions; "
            f"Amazon Personalize needs at least {MIN_SHARE_OF_USERS_WITH_2PLUS:.0%} of users to: upload more "
            "interactions of the same users under raw/."
        )
