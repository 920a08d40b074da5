"""`recflow local serve` as a user runs it: a subprocess with no AWS credentials, reached over HTTP by plain
boto3 and the AWS CLI, stopped with Ctrl-C (SIGINT)."""

import json
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from served import (
    AWS_CLI,
    RECFLOW,
    RUN_SECONDS,
    clean_env,
    client_env,
    free_port,
    out_lines,
    run_pipeline,
    serve,
    serving,
)

from recflow.synthetic import generate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def served(tmp_path_factory, home):
    with serving(tmp_path_factory.mktemp("serve") / "lake", home) as served:
        yield served


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
    sfn = served.client("stepfunctions")
    # When a client uploads a raw file
    started = time.monotonic()
    described = run_pipeline(served, small_file, "raw/ratings.dat")
    # Then the template's rule started an execution, which succeeded
    assert described["status"] == "SUCCEEDED", described
    history = sfn.get_paginator("get_execution_history").paginate(executionArn=described["executionArn"])
    events = [event for page in history for event in page["events"]]
    entered = {e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e}
    assert {"Transform raw interactions", "Wait for training", "Run succeeded"} <= entered, entered
    # And Personalize's batch output is under recommendations/<run-id>/
    lines = out_lines(served, described["name"])
    first = lines[0]
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
    env = client_env(home, served.url)

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
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert " ".join(result.stdout.split()) == (
        f"error: port {served.port} on 127.0.0.1 is already in use: stop what listens there or pick another with --port"
    )


@dataclass(frozen=True)
class Unserved:
    """An action the local account does not implement, and how its protocol carries the error."""

    protocol: str
    service: str
    operation: str  # boto3's name; the AWS CLI's is the same with dashes
    params: dict[str, str]
    content_type: str
    action: str  # as the message names it: IAM's prefix and the API's operation name

    @property
    def cli(self) -> list[str]:
        options = [f"--{xform_name(k, '-')}={v}" for k, v in self.params.items()]
        return [self.service, self.operation.replace("_", "-"), *options]


UNSERVED = [
    Unserved("json", "glue", "list_ml_transforms", {}, "application/x-amz-json-1.1", "glue:ListMLTransforms"),
    Unserved(
        "json",
        "stepfunctions",
        "validate_state_machine_definition",
        {"definition": "{}"},
        "application/x-amz-json-1.0",
        "states:ValidateStateMachineDefinition",
    ),
    Unserved("query", "iam", "list_service_specific_credentials", {}, "text/xml", "iam:ListServiceSpecificCredentials"),
    Unserved("query", "sns", "list_origination_numbers", {}, "text/xml", "sns:ListOriginationNumbers"),
    Unserved(
        "rest-json", "lambda", "list_code_signing_configs", {}, "application/json", "lambda:ListCodeSigningConfigs"
    ),
    Unserved("rest-xml", "route53", "list_cidr_collections", {}, "text/xml", "route53:ListCidrCollections"),
]
# No retries, and a read timeout: a server that hangs fails the test instead of holding it.
NO_RETRIES = Config(retries={"total_max_attempts": 1}, read_timeout=20, connect_timeout=5)


def _aws_cli_error(served, home, *args: str) -> tuple[int, str]:
    env = {**client_env(home, served.url), "AWS_MAX_ATTEMPTS": "1"}
    options = ["--cli-read-timeout", "20", "--cli-connect-timeout", "5"]
    done = subprocess.run([str(AWS_CLI), *args, *options], env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr.strip()


@pytest.mark.parametrize("unserved", UNSERVED, ids=lambda u: f"{u.protocol}-{u.service}")
def test_an_unimplemented_action_answers_boto3_with_an_error_in_its_protocol(served, unserved):
    client = served.client(unserved.service, NO_RETRIES)
    with pytest.raises(ClientError) as raised:
        getattr(client, unserved.operation)(**unserved.params)
    answer = raised.value.response
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == unserved.content_type
    assert answer["Error"]["Code"] == "NotImplemented"
    assert answer["Error"]["Message"] == (
        f"The local AWS account (recflow local serve) does not implement {unserved.action}."
    )


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the AWS CLI is in the dev extras (pip install -e '.[dev]')")
@pytest.mark.parametrize("unserved", UNSERVED, ids=lambda u: f"{u.protocol}-{u.service}")
def test_an_unimplemented_action_answers_the_aws_cli_with_an_error_naming_it(served, home, unserved):
    returncode, stderr = _aws_cli_error(served, home, *unserved.cli)
    operation = unserved.action.split(":")[1]
    assert returncode == 255, stderr  # AWS CLI v1's exit code for an error the service answered (v2: 254)
    assert stderr == (
        f"An error occurred (NotImplemented) when calling the {operation} operation: "
        f"The local AWS account (recflow local serve) does not implement {unserved.action}."
    )


def test_a_request_moto_fails_on_answers_in_s3s_error_shape_naming_the_action(served, home):
    # moto's S3 takes a POST to a bucket for a browser form upload and fails on a form field it lacks
    bucket = served.outputs()["DataBucketName"]
    config = {"JournalTableConfiguration": {"RecordExpiration": {"Expiration": "DISABLED"}}}
    with pytest.raises(ClientError) as raised:
        served.client("s3", NO_RETRIES).create_bucket_metadata_configuration(
            Bucket=bucket, MetadataConfiguration=config
        )
    answer = raised.value.response
    failed = "The local AWS account (recflow local serve) failed on s3:CreateBucketMetadataConfiguration (KeyError:"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert (answer["Error"]["Code"], answer["Error"]["Message"][: len(failed)]) == ("InternalError", failed)
    assert re.search(r", at moto/s3/responses\.py:\d+\)\.$", answer["Error"]["Message"]), answer["Error"]["Message"]
    if AWS_CLI.exists():
        cli = ["s3api", "create-bucket-metadata-configuration", "--bucket", bucket]
        returncode, stderr = _aws_cli_error(served, home, *cli, "--metadata-configuration", json.dumps(config))
        assert returncode == 255 and "(InternalError) when calling the CreateBucketMetadataConfiguration" in stderr
        assert failed in stderr


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
    restarted = serve(free_port(), served.lake, home)
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
