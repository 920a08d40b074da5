import json

import boto3
import pytest
from lambda_env import BUCKET, REGION, RUN_ID, emitted_metrics
from recflow_lambda.errors import DataCheckFailed, InvalidEvent
from recflow_lambda.handlers import check_data

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
REPORT_KEY = f"transformed/{RUN_ID}/report.json"


def etl_report(interactions: int = 1200, users_with_2plus: int = 58, **changes) -> dict:
    """A consistent report.json: every line read is accounted for."""
    report = {
        "run_id": RUN_ID,
        "source_files": ["raw/ratings-2024-05.dat"],
        "lines_read": 0,
        "header_lines": 1,
        "blank_lines": 2,
        "rejected": 3,
        "rejects_by_reason": {"rating is not a number": 3},
        "duplicates_dropped": 4,
        "below_min_rating": 90,
        "interactions": interactions,
        "users": 60,
        "items": 300,
        "users_with_2plus": users_with_2plus,
        "timestamp_units": {"milliseconds": interactions, "seconds": 0},
    }
    report["lines_read"] = 1 + 2 + 3 + 4 + 90 + interactions
    report.update(changes)
    return report


def store(report: dict) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=REPORT_KEY, Body=json.dumps(report))


def test_a_report_personalize_can_train_on_is_returned_with_its_counts(bucket, load_event, lambda_context, capsys):
    # Given the ETL wrote a report with 1,200 interactions and 58 users with 2+ interactions
    store(etl_report())

    # When check_data runs after the Glue job SUCCEEDED
    result = check_data.handler(load_event("check_data"), lambda_context)

    # Then it returns the report's counts (the file list stays in report.json) and records them as metrics
    assert result == {**{k: v for k, v in etl_report().items() if k != "source_files"}, "source_file_count": 1}
    assert emitted_metrics(capsys.readouterr().out) == {"Interactions": 1200.0, "RejectedLines": 3.0}


def test_fields_the_etl_adds_later_are_passed_on(bucket, load_event, lambda_context):
    store(etl_report(partitions=4))

    assert check_data.handler(load_event("check_data"), lambda_context)["partitions"] == 4


def test_a_failed_etl_job_fails_the_check_without_reading_the_report(bucket, load_event, lambda_context):
    event = load_event("check_data") | {"etl_state": "FAILED"}

    with pytest.raises(DataCheckFailed, match=f"The ETL job of run {RUN_ID} ended in state FAILED"):
        check_data.handler(event, lambda_context)


def test_a_missing_report_fails_the_check(bucket, load_event, lambda_context):
    with pytest.raises(DataCheckFailed, match=f"s3://{BUCKET}/{REPORT_KEY} does not exist"):
        check_data.handler(load_event("check_data"), lambda_context)


def test_a_report_losing_lines_fails_the_check(bucket, load_event, lambda_context):
    report = etl_report()
    store(report | {"lines_read": report["lines_read"] + 7})

    with pytest.raises(DataCheckFailed, match="accounts for 1300 of 1307 lines read"):
        check_data.handler(load_event("check_data"), lambda_context)


def test_a_report_of_another_run_fails_the_check(bucket, load_event, lambda_context):
    store(etl_report(run_id="another-run"))

    with pytest.raises(DataCheckFailed, match=f"belongs to run another-run, not {RUN_ID}"):
        check_data.handler(load_event("check_data"), lambda_context)


def test_a_malformed_report_fails_the_check(bucket, load_event, lambda_context):
    report = etl_report()
    del report["users_with_2plus"]
    store(report)

    with pytest.raises(DataCheckFailed, match=r"is malformed \(1 problems, first: users_with_2plus: Field required\)"):
        check_data.handler(load_event("check_data"), lambda_context)


def test_an_event_without_etl_state_is_invalid(bucket, lambda_context):
    with pytest.raises(InvalidEvent, match=r"The check_data event is invalid \(etl_state: Field required\)"):
        check_data.handler({"run_id": RUN_ID}, lambda_context)


def mostly_readable_report(rejected: int, max_rejected_share: float | None = None) -> dict:
    reasons = {"timestamp before 1970": rejected - rejected // 3, "empty item id": rejected // 3}
    files = {"raw/a.csv": {"data_lines": 1594, "rejected": rejected, "top_reasons": reasons}}
    report = etl_report(rejected=rejected, rejects_by_reason=reasons, files=files)
    report["lines_read"] = 1 + 2 + rejected + 4 + 90 + 1200
    if max_rejected_share is not None:
        report["max_rejected_share"] = max_rejected_share
    return report


def test_rejects_the_etl_let_through_are_reported_and_the_run_goes_on(bucket, load_event, lambda_context, caplog):
    store(mostly_readable_report(300, max_rejected_share=0.2))

    result = check_data.handler(load_event("check_data"), lambda_context)

    assert result["rejected"] == 300
    assert result["max_rejected_share"] == 0.2
    assert "files" not in result  # per-file details stay in report.json
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        '300 lines rejected; top reasons: 200 × "timestamp before 1970"; 100 × "empty item id"'
    ]


def test_the_etls_rejection_is_the_cause_as_it_wrote_it(bucket, load_event, lambda_context):
    # Given the ETL rejected the run (it wrote no interactions) and said why, naming the files
    rejection = f"Run {RUN_ID} has no interactions to import: raw/a.csv is empty; upload data under raw/."
    store(
        etl_report(interactions=0, users=0, users_with_2plus=0, timestamp_units={"seconds": 0})
        | {"rejection": rejection}
    )

    # When check_data runs, then that sentence is the failure's cause
    with pytest.raises(DataCheckFailed) as raised:
        check_data.handler(load_event("check_data"), lambda_context)
    assert str(raised.value) == rejection
