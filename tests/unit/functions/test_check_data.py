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


def test_exactly_the_personalize_minimums_pass(bucket, load_event, lambda_context):
    store(etl_report(interactions=1000, users_with_2plus=25))

    assert check_data.handler(load_event("check_data"), lambda_context)["interactions"] == 1000


def test_fewer_than_1000_interactions_fail_with_the_count(bucket, load_event, lambda_context):
    store(etl_report(interactions=999))

    with pytest.raises(DataCheckFailed) as raised:
        check_data.handler(load_event("check_data"), lambda_context)

    assert str(raised.value) == (
        f"Run {RUN_ID} has 999 interactions after the ETL (3 lines rejected); Amazon Personalize needs "
        "at least 1000: upload more data under raw/."
    )


def test_fewer_than_25_users_with_two_interactions_fail(bucket, load_event, lambda_context):
    store(etl_report(users_with_2plus=24))

    with pytest.raises(DataCheckFailed, match="has 24 users with 2 or more interactions; .* at least 25"):
        check_data.handler(load_event("check_data"), lambda_context)


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


def unreadable_report(**changes) -> dict:
    """Every line of raw/ratings.csv rejected: comma-separated lines under a tab-separated header."""
    report = etl_report(
        interactions=0,
        header_lines=1,
        blank_lines=0,
        rejected=100_836,
        rejects_by_reason={"expected 4 tab-separated fields, found 1": 100_836},
        duplicates_dropped=0,
        below_min_rating=0,
        lines_read=100_837,
        users=0,
        items=0,
        users_with_2plus=0,
        timestamp_units={"milliseconds": 0, "seconds": 0},
        files={
            "raw/ratings.csv": {
                "format": "tsv",
                "lines_read": 100_837,
                "data_lines": 100_836,
                "rejected": 100_836,
                "top_reasons": {"expected 4 tab-separated fields, found 1": 100_836},
                "hint": "the file looks comma-separated: set InputFormat=csv or check the header",
            }
        },
        max_rejected_share=1.0,
    )
    report.update(changes)
    return report


def test_a_file_whose_lines_are_all_rejected_fails_with_the_real_reason(bucket, load_event, lambda_context):
    # Given every data line of one file was rejected, even with MaxRejectedShare at 100%
    store(unreadable_report())

    # When check_data runs
    with pytest.raises(DataCheckFailed) as raised:
        check_data.handler(load_event("check_data"), lambda_context)

    # Then it names the file, the count and the reason, and what to do; never "upload more data"
    message = str(raised.value)
    assert message == (
        f"Run {RUN_ID}: raw/ratings.csv: all 100,836 lines rejected; 100,836 × "
        '"expected 4 tab-separated fields, found 1" — the file looks comma-separated: set InputFormat=csv or '
        f"check the header (the rejected lines, with their line numbers, are under rejects/{RUN_ID}/)."
    )
    assert "upload more data" not in message


def mostly_readable_report(rejected: int, max_rejected_share: float | None = None) -> dict:
    reasons = {"timestamp before 1970": rejected - rejected // 3, "empty item id": rejected // 3}
    files = {"raw/a.csv": {"data_lines": 1594, "rejected": rejected, "top_reasons": reasons}}
    report = etl_report(rejected=rejected, rejects_by_reason=reasons, files=files)
    report["lines_read"] = 1 + 2 + rejected + 4 + 90 + 1200
    if max_rejected_share is not None:
        report["max_rejected_share"] = max_rejected_share
    return report


def test_more_rejects_than_max_rejected_share_fail_before_the_import_with_the_top_reasons(
    bucket, load_event, lambda_context
):
    # 300 of 1,594 data lines (18.8%) rejected; the default MaxRejectedShare is 10%
    store(mostly_readable_report(300))

    with pytest.raises(DataCheckFailed) as raised:
        check_data.handler(load_event("check_data"), lambda_context)

    assert str(raised.value) == (
        f'Run {RUN_ID}: 300 of 1,594 lines rejected (18.8%); top reasons: 200 × "timestamp before 1970"; '
        '100 × "empty item id". That is more than MaxRejectedShare=0.1 allows: fix the files under raw/ or '
        f"raise MaxRejectedShare (the rejected lines, with their line numbers, are under rejects/{RUN_ID}/)."
    )


def test_rejects_below_max_rejected_share_are_reported_and_the_run_goes_on(bucket, load_event, lambda_context, caplog):
    store(mostly_readable_report(300, max_rejected_share=0.2))

    result = check_data.handler(load_event("check_data"), lambda_context)

    assert result["rejected"] == 300
    assert result["max_rejected_share"] == 0.2
    assert "files" not in result  # per-file details stay in report.json


def test_a_max_rejected_share_out_of_range_is_a_malformed_report(bucket, load_event, lambda_context):
    store(mostly_readable_report(3, max_rejected_share=1.5))

    with pytest.raises(DataCheckFailed, match=r"is malformed \(1 problems, first: max_rejected_share: "):
        check_data.handler(load_event("check_data"), lambda_context)


def test_fewer_than_1_percent_of_users_with_two_interactions_fail(bucket, load_event, lambda_context):
    store(etl_report(users=5_801, users_with_2plus=58))

    with pytest.raises(DataCheckFailed, match=r"only 58 of 5,801 users have 2 or more interactions; .* at least 1% "):
        check_data.handler(load_event("check_data"), lambda_context)
