"""A burst of uploads through `recflow local serve`, over real HTTP with boto3: at most two runs, the last sees all."""

import json
import subprocess
import time

import pytest
from served import RECFLOW, RUN_SECONDS, client_env, executions, serving, wait_for_end

from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

FILES = 10


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("serve-burst") / "lake", tmp_path_factory.mktemp("home")) as served:
        yield served


def lock(served) -> dict | None:
    s3 = served.client("s3")
    try:
        body = s3.get_object(Bucket=served.outputs()["DataBucketName"], Key="state/run-lock.json")["Body"]
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body.read())


def test_a_burst_of_ten_uploads_gives_at_most_two_runs_that_see_every_file(served, tmp_path):
    s3, bucket = served.client("s3"), served.outputs()["DataBucketName"]
    names = []
    # When a client uploads ten files, one after the other
    for day in range(FILES):
        path = tmp_path / f"ratings-day{day:02d}.dat"
        generate(path, users=40, items=200, interactions=1_200, seed=day)
        s3.upload_file(str(path), bucket, f"raw/{path.name}")
        names.append(path.name)
    # And waits until no run is in flight: the lock is released once the last run ended with nothing waiting
    deadline = time.monotonic() + 2 * RUN_SECONDS
    while not ((held := lock(served)) and held["execution_arn"] is None and held["recent"]):
        assert time.monotonic() < deadline, f"runs still in flight after {2 * RUN_SECONDS} s: {held}"
        time.sleep(0.5)

    # Then at most two runs ran, both succeeded, and the last one's ETL report counts all ten files
    runs = sorted(executions(served), key=lambda e: e["startDate"])
    assert 1 <= len(runs) <= 2, [e["name"] for e in runs]
    assert [e["status"] for e in runs] == ["SUCCEEDED"] * len(runs)
    report_key = f"transformed/{runs[-1]['name']}/report.json"
    report = json.loads(s3.get_object(Bucket=bucket, Key=report_key)["Body"].read())
    assert sorted(key.rsplit("/", 1)[1] for key in report["source_files"]) == sorted(names)
    assert len(held["recent"]) == FILES  # every upload was covered by one of the runs


def test_a_duplicate_delivery_of_an_upload_event_starts_nothing(served):
    # Given the burst's runs are over; When start_run gets one of its upload events again (as EventBridge may)
    s3, bucket = served.client("s3"), served.outputs()["DataBucketName"]
    head = s3.head_object(Bucket=bucket, Key="raw/ratings-day03.dat")
    event = {
        "version": "0",
        "id": "dup",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-05-01T06:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "bucket": {"name": bucket},
            "object": {
                "key": "raw/ratings-day03.dat",
                "etag": head["ETag"].strip('"'),
                "version-id": head["VersionId"],
                "sequencer": "617f08299329d189",  # moto's sequencer for every object
            },
        },
    }
    before = len(executions(served))
    function = served.outputs()["StartRunFunctionName"]
    reply = served.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    answer = json.loads(reply["Payload"].read())
    # Then nothing starts and nothing waits
    assert answer["started"] is False and answer["queued"] is False, answer
    assert "duplicate delivery" in answer["reason"]
    assert len(executions(served)) == before


def test_an_event_start_run_cannot_handle_waits_in_the_dead_letter_queue_until_replayed(served, tmp_path):
    s3, bucket = served.client("s3"), served.outputs()["DataBucketName"]
    env = client_env(tmp_path, served.url)

    def dead_letters(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RECFLOW), "aws", "dead-letters", *options], env=env, capture_output=True, text=True, timeout=120
        )

    # Given a lock start_run cannot read (as if a bug had written it)
    s3.put_object(Bucket=bucket, Key="state/run-lock.json", Body=b"not json")
    before = {e["executionArn"] for e in executions(served)}
    # When a file is uploaded
    path = tmp_path / "late.dat"
    generate(path, users=40, items=200, interactions=1_200, seed=42)
    s3.upload_file(str(path), bucket, "raw/late.dat")

    # Then no run starts: after Lambda's retries the event is in the dead-letter queue, with the error
    assert {e["executionArn"] for e in executions(served)} == before
    listed = dead_letters()
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"upload s3://{bucket}/raw/late.dat" in listed.stdout
    assert "JSONDecodeError" in listed.stdout

    # When the cause is fixed and the dead letters replayed
    s3.delete_object(Bucket=bucket, Key="state/run-lock.json")
    replayed = dead_letters("--replay")

    # Then the upload starts its run, and the queue is empty
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert f"upload s3://{bucket}/raw/late.dat: started run late-" in replayed.stdout
    (new,) = [e for e in executions(served) if e["executionArn"] not in before]
    assert wait_for_end(served, new["executionArn"])["status"] == "SUCCEEDED"
    assert "No dead letters" in dead_letters().stdout


def test_a_run_stopped_whose_end_event_was_lost_does_not_block_the_next_upload(served, tmp_path):
    s3, bucket, events = served.client("s3"), served.outputs()["DataBucketName"], served.client("events")
    (ended_rule,) = [r["Name"] for r in events.list_rules()["Rules"] if "RunEnded" in r["Name"]]
    path = tmp_path / "stopped.dat"
    generate(path, users=40, items=200, interactions=1_200, seed=7)
    # Given a run in flight whose end event will never reach start_run (its rule is off while it is stopped)
    before = {e["executionArn"] for e in executions(served)}
    s3.upload_file(str(path), bucket, "raw/stopped.dat")
    (stopped,) = [e for e in executions(served) if e["executionArn"] not in before]
    events.disable_rule(Name=ended_rule)
    served.client("stepfunctions").stop_execution(executionArn=stopped["executionArn"], error="Stopped", cause="test")
    assert wait_for_end(served, stopped["executionArn"])["status"] == "ABORTED"
    events.enable_rule(Name=ended_rule)
    assert lock(served)["execution_arn"] == stopped["executionArn"]  # the lock still names the stopped run

    # When the next file is uploaded
    s3.upload_file(str(path), bucket, "raw/after-stop.dat")

    # Then it starts a run at once (the stopped run is not RUNNING), which succeeds
    (new,) = [e for e in executions(served) if e["executionArn"] not in before | {stopped["executionArn"]}]
    assert wait_for_end(served, new["executionArn"])["status"] == "SUCCEEDED"


def test_recflow_aws_run_with_several_files_follows_the_run_and_its_follow_up(served, tmp_path):
    env = client_env(tmp_path, served.url)
    files = []
    for day in range(3):
        path = tmp_path / f"cli-day{day}.dat"
        generate(path, users=40, items=200, interactions=1_200, seed=100 + day)
        files += ["--raw", str(path)]

    # When the operator uploads three files with `recflow aws run`
    done = subprocess.run(
        [str(RECFLOW), "aws", "run", *files], env=env, capture_output=True, text=True, timeout=4 * RUN_SECONDS
    )

    # Then it follows the run the first upload started, then the follow-up covering the other two, to success
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Follow-up run followup-" in done.stdout, done.stdout
    follow_up = done.stdout.split("Follow-up run ", 1)[1].split()[0]
    s3, bucket = served.client("s3"), served.outputs()["DataBucketName"]
    report = json.loads(s3.get_object(Bucket=bucket, Key=f"transformed/{follow_up}/report.json")["Body"].read())
    assert {f"cli-day{day}.dat" for day in range(3)} <= {key.rsplit("/", 1)[1] for key in report["source_files"]}
