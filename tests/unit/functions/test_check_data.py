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

    # Then it returns the report's counts and records them as metrics
    assert result == etl_report()
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
