"""check_data: decide whether the ETL output of a run can train a Personalize solution."""

from pydantic import ValidationError

from recflow_lambda import storage
from recflow_lambda.errors import DataCheckFailed
from recflow_lambda.minimums import MIN_TRAINING_INTERACTIONS, MIN_TRAINING_USERS
from recflow_lambda.models import EtlReport


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
        report = EtlReport.model_validate(document)
    except ValidationError as exc:
        raise DataCheckFailed(
            f"The ETL report {location} is malformed ({exc.error_count()} problems, first: "
            f"{'.'.join(map(str, exc.errors()[0]['loc']))}: {exc.errors()[0]['msg']})."
        ) from exc
    _check(report, run_id, location)
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
