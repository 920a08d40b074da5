"""check_data: decide whether the ETL output of a run can train a Personalize solution.

It reads only the ETL's report (transformed/<run-id>/report.json): the ETL counts everything and applies
Personalize's minimums and MaxRejectedShare itself (run_rejection in the Glue script), writing no data for
a run it rejects, so no Lambda reads the interactions. The check makes sure the report is this run's and
accounts for every line, and fails the run with the ETL's verdict.
"""

from pydantic import ValidationError

from recflow_lambda import storage
from recflow_lambda.errors import DataCheckFailed
from recflow_lambda.models import EtlReport
from recflow_lambda.observability import logger

TOP_REASONS = 3


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
        # The per-file details stay in report.json: with many files they would outgrow the 256 KiB a
        # Step Functions state may pass on.
        report = EtlReport.model_validate({name: value for name, value in document.items() if name != "files"})
    except ValidationError as exc:
        raise DataCheckFailed(
            f"The ETL report {location} is malformed ({exc.error_count()} problems, first: "
            f"{'.'.join(map(str, exc.errors()[0]['loc']))}: {exc.errors()[0]['msg']})."
        ) from exc
    _check(report, run_id, location)
    rejection = document.get("rejection")
    if isinstance(rejection, str) and rejection:  # the ETL's verdict, with the files it names: it wrote no data
        raise DataCheckFailed(rejection)
    _report_rejects(report, run_id)
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


def _report_rejects(report: EtlReport, run_id: str) -> None:
    """Rejected lines under MaxRejectedShare let the run go on (above it the ETL rejected the run): say so."""
    if report.rejected:
        ranked = sorted(report.rejects_by_reason.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP_REASONS]
        reasons = "; ".join(f'{lines:,} × "{reason}"' for reason, lines in ranked)
        summary = f"{report.rejected:,} lines rejected; top reasons: {reasons}"
        logger.warning(summary, extra={"run_id": run_id, "rejected": report.rejected})
