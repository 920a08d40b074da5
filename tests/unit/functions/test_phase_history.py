"""history/phase-durations.json: FinishRun records the jobs' durations, the next run's starts read them."""

import json

import boto3
import pytest
from lambda_env import BUCKET, REGION, RUN_ID, SOLUTION_ARN
from recflow_lambda.handlers import finish_run, start_import
from recflow_lambda.models import Expectation, JobState
from recflow_lambda.phase_history import HISTORY_KEY, KEPT_RUNS, PhaseHistory, read_expectation

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
IMPORT_ARN = f"arn:aws:personalize:us-east-1:123456789012:dataset-import-job/recflow-{RUN_ID}-import"


def s3():
    return boto3.client("s3", region_name=REGION)


def job(phase: str, running: int, waited: int, polls: int = 5) -> JobState:
    return JobState(phase=phase, name=f"recflow-run-{phase}", arn=f"arn:{phase}", status="ACTIVE", polls=polls,
                    running_seconds=running, waited_seconds=waited)  # fmt: skip


@pytest.fixture
def finished_batch(bucket):
    s3().put_object(Bucket=BUCKET, Key=f"recommendations/{RUN_ID}/users.json.out", Body=b"{}\n")


def test_finish_run_records_how_long_each_job_ran_and_the_next_start_reads_it(
    finished_batch, topic_messages, personalize_stubber, load_event, lambda_context
):
    # Given a run whose jobs were last seen running at 400 / 3500 / 2000 s
    personalize_stubber.add_response(
        "get_solution_metrics", {"solutionVersionArn": f"{SOLUTION_ARN}/1a2b3c4d", "metrics": {}}
    )

    # When FinishRun publishes it
    finish_run.handler(load_event("finish_run"), lambda_context)

    # Then the history in the bucket holds each phase's duration
    written = json.loads(s3().get_object(Bucket=BUCKET, Key=HISTORY_KEY)["Body"].read())
    assert written == {
        "version": 1,
        "phases": {
            "import": [{"run_id": RUN_ID, "seconds": 400, "noticed_after_seconds": 420}],
            "train": [{"run_id": RUN_ID, "seconds": 3500, "noticed_after_seconds": 3600}],
            "batch": [{"run_id": RUN_ID, "seconds": 2000, "noticed_after_seconds": 2100}],
        },
    }
    # And the next run's import starts with that expectation
    personalize_stubber.add_response(
        "describe_dataset_import_job",
        {"datasetImportJob": {"datasetImportJobArn": IMPORT_ARN, "status": "CREATE PENDING"}},
        {"datasetImportJobArn": IMPORT_ARN},
    )
    started = start_import.handler(load_event("start_import"), lambda_context)
    assert started["expected"] == {"shortest_seconds": 400, "longest_seconds": 400, "runs": 1}


def test_without_history_a_start_expects_nothing(bucket):
    assert read_expectation(BUCKET, "train") is None


def test_an_unreadable_history_is_ignored_and_replaced_by_the_next_record(bucket):
    s3().put_object(Bucket=BUCKET, Key=HISTORY_KEY, Body=b"not json")

    assert read_expectation(BUCKET, "train") is None


def test_the_expectation_spans_the_five_newest_runs_and_the_file_keeps_ten():
    history = PhaseHistory()
    for number, seconds in enumerate([100, 9000, 7000, 7200, 6900, 7100, 7300, 7000, 7050, 7150, 7400, 7250]):
        history = history.with_jobs(f"run-{number}", [job("train", seconds, seconds + 60)])

    assert len(history.phases["train"]) == KEPT_RUNS
    assert history.expectation("train") == Expectation(shortest_seconds=7000, longest_seconds=7400, runs=5)
    assert history.expectation("batch") is None


def test_a_retried_finish_replaces_its_own_entry_and_a_job_never_seen_running_is_not_recorded():
    history = PhaseHistory().with_jobs("run-1", [job("train", 3000, 3100), job("batch", 0, 0, polls=1)])
    history = history.with_jobs("run-1", [job("train", 3050, 3100)])

    assert [run.seconds for run in history.phases["train"]] == [3050]
    assert "batch" not in history.phases
