"""`recflow local serve` as a user runs it: a subprocess with no AWS credentials, reached over HTTP by plain
boto3 and the AWS CLI, stopped with Ctrl-C (SIGINT)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

RECFLOW = Path(sys.executable).with_name("recflow")
AWS_CLI = Path(sys.executable).with_name("aws")
START_SECONDS = 120  # a cold start measures ~12 s here; a loaded CI machine gets ten times that
RUN_SECONDS = 120  # a small run through the server measures ~6 s


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_env(home: Path) -> dict[str, str]:
    """No AWS_* variables at all, and a HOME without ~/.aws: the server must need no credentials."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1", COLUMNS="200")
    return env


def _client_env(home: Path, url: str, key: str = "cli") -> dict[str, str]:
    """What a user's shell has when pointing the AWS CLI (or recflow aws) at the server: any credentials."""
    return {
        **_clean_env(home),
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    lake: Path
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="anything",
            aws_secret_access_key="anything",
        )

    def outputs(self) -> dict[str, str]:
        (stack,) = self.client("cloudformation").describe_stacks(StackName="recflow")["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def _serve(port: int, lake: Path, home: Path) -> Served:
    process = subprocess.Popen(
        [str(RECFLOW), "local", "serve", "--port", str(port), "--time-scale", "0.001", "--lake", str(lake)],
        env=_clean_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(process, port, lake)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            served.lines.append(line)
            if line.startswith("Serving on"):
                ready.set()
        ready.set()  # the process ended: stop waiting

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(START_SECONDS) or process.poll() is not None:
        process.kill()
        pytest.fail(f"recflow local serve did not start:\n{served.output}")
    return served


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def served(tmp_path_factory, home):
    served = _serve(_free_port(), tmp_path_factory.mktemp("serve") / "lake", home)
    yield served
    if served.process.poll() is None:
        served.process.kill()
        served.process.wait()


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    generate(path, users=40, items=200, interactions=2_000, seed=3)  # above Personalize's minimums
    return path


def test_on_start_it_prints_the_endpoint_and_the_stack_outputs(served):
    outputs = served.outputs()
    assert f"Serving on {served.url}" in served.output
    assert re.search(r"Stack recflow CREATE_COMPLETE in [\d.]+ s", served.output)
    for key, value in outputs.items():
        assert re.search(rf"│ {key}\s+│ {re.escape(value)}\s+│", served.output), key
    assert set(outputs) >= {"DataBucketName", "StateMachineArn", "DatasetGroupArn", "SolutionArn"}


def test_an_upload_to_raw_runs_the_pipeline_to_recommendations(served, small_file):
    outputs = served.outputs()
    bucket, machine = outputs["DataBucketName"], outputs["StateMachineArn"]
    s3, sfn = served.client("s3"), served.client("stepfunctions")
    # When a client uploads a raw file
    started = time.monotonic()
    s3.upload_file(str(small_file), bucket, "raw/ratings.dat")
    # Then the template's rule starts an execution, which succeeds within a bounded time
    while time.monotonic() - started < RUN_SECONDS:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        if executions and executions[0]["status"] != "RUNNING":
            break
        time.sleep(0.5)
    (execution,) = executions
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    history = sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"])
    events = [event for page in history for event in page["events"]]
    entered = {e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e}
    assert {"Transform raw interactions", "Wait for training", "Run succeeded"} <= entered, entered
    # And Personalize's batch output is under recommendations/<run-id>/
    run_id = execution["name"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"recommendations/{run_id}/")["Contents"]]
    (out_key,) = [k for k in keys if k.endswith(".out")]
    lines = s3.get_object(Bucket=bucket, Key=out_key)["Body"].read().decode().splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"input", "output", "error"}
    assert set(first["input"]) == {"userId"} and first["error"] is None
    assert len(first["output"]["recommendedItems"]) == 25
    assert len(lines) == 40  # every user of the file
    print(f"run through the server: {time.monotonic() - started:.1f} s")


def test_the_local_personalize_answers_for_the_run_with_real_shapes(served):
    personalize = served.client("personalize")
    (group,) = personalize.list_dataset_groups()["datasetGroups"]
    jobs = personalize.list_dataset_import_jobs()["datasetImportJobs"]
    versions = personalize.list_solution_versions(solutionArn=served.outputs()["SolutionArn"])["solutionVersions"]
    assert group["datasetGroupArn"] == served.outputs()["DatasetGroupArn"]
    assert [j["status"] for j in jobs] == ["ACTIVE"]
    job = personalize.describe_dataset_import_job(datasetImportJobArn=jobs[0]["datasetImportJobArn"])
    assert job["datasetImportJob"]["dataSource"]["dataLocation"].startswith("s3://")
    assert [v["status"] for v in versions] == ["ACTIVE"]
    metrics = personalize.get_solution_metrics(solutionVersionArn=versions[0]["solutionVersionArn"])["metrics"]
    assert 0 <= metrics["normalized_discounted_cumulative_gain_at_25"] <= 1


def test_an_aws_managed_policy_attaches_to_a_role(served):
    iam = served.client("iam")
    iam.create_role(RoleName="analyst", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    iam.attach_role_policy(RoleName="analyst", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    (attached,) = iam.list_attached_role_policies(RoleName="analyst")["AttachedPolicies"]
    assert attached["PolicyArn"] == "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the AWS CLI is in the dev extras (pip install -e '.[dev]')")
def test_the_aws_cli_starts_a_run_and_follows_it(served, home, small_file):
    env = _client_env(home, served.url)

    def aws_text(*args: str) -> str:
        done = subprocess.run([str(AWS_CLI), *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def aws(*args: str) -> Any:
        return json.loads(aws_text(*args, "--output", "json"))

    stacks = aws("cloudformation", "describe-stacks", "--stack-name", "recflow")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks["Stacks"][0]["Outputs"]}
    assert outputs == served.outputs()
    machine = outputs["StateMachineArn"]
    before = len(aws("stepfunctions", "list-executions", "--state-machine-arn", machine)["executions"])
    # When the AWS CLI uploads a raw file
    aws_text("s3", "cp", str(small_file), f"s3://{outputs['DataBucketName']}/raw/from-cli.dat")
    # Then list-executions, describe-execution and get-execution-history follow the run it started
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        executions = aws("stepfunctions", "list-executions", "--state-machine-arn", machine)["executions"]
        if len(executions) > before and all(e["status"] != "RUNNING" for e in executions):
            break
        time.sleep(0.5)
    newest = max(executions, key=lambda e: e["startDate"])
    assert len(executions) == before + 1
    assert aws("stepfunctions", "describe-execution", "--execution-arn", newest["executionArn"])["status"] == (
        "SUCCEEDED"
    )
    history = aws("stepfunctions", "get-execution-history", "--execution-arn", newest["executionArn"])
    assert history["events"][-1]["type"] == "ExecutionSucceeded"
    listed = aws_text("s3", "ls", f"s3://{outputs['DataBucketName']}/recommendations/{newest['name']}/")
    assert ".out" in listed


def test_a_second_server_on_the_same_port_says_so_in_one_sentence(served, home, tmp_path):
    result = subprocess.run(
        [str(RECFLOW), "local", "serve", "--port", str(served.port), "--lake", str(tmp_path)],
        env=_clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert " ".join(result.stdout.split()) == (
        f"error: port {served.port} on 127.0.0.1 is already in use: stop what listens there or pick another with --port"
    )


# Runs last in this module: it stops the shared server.
def test_ctrl_c_writes_the_lake_and_a_restart_restores_it_without_starting_a_run(served, home):
    served.client("s3").put_object(Bucket=served.outputs()["DataBucketName"], Key="notes/hello.txt", Body=b"hi")
    # When the server gets Ctrl-C
    assert served.stop() == 0, served.output
    # Then it stopped cleanly, and the bucket's objects are in the lake
    assert "Traceback" not in served.output
    assert (served.lake / "notes" / "hello.txt").read_text() == "hi"
    assert (served.lake / "raw" / "ratings.dat").is_file()
    assert list(served.lake.glob("recommendations/*/*.out"))
    on_disk = sorted(p.relative_to(served.lake).as_posix() for p in served.lake.rglob("*") if p.is_file())
    # When it starts again on the same lake
    restarted = _serve(_free_port(), served.lake, home)
    try:
        bucket = restarted.outputs()["DataBucketName"]
        pages = restarted.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
        in_bucket = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
        executions = restarted.client("stepfunctions").list_executions(
            stateMachineArn=restarted.outputs()["StateMachineArn"]
        )["executions"]
    finally:
        assert restarted.stop() == 0, restarted.output
    # Then the bucket holds the earlier objects, and restoring raw/ started no run
    assert in_bucket == on_disk
    assert f"{len(on_disk)} objects restored" in " ".join(restarted.output.split())
    assert executions == []

