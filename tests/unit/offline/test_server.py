import json
import re
import socket
import time

import boto3
import botocore.session
import pytest
from botocore import parsers
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.glue.responses import GlueResponse
from typer.testing import CliRunner

from recflow.cli import app
from recflow.offline import aws_errors, server
from recflow.offline.server import ServeError, local_server
from recflow.offline.template import TemplateError
from recflow.personalize_local.settings import LocalSettings

# Personalize resources become ACTIVE at once, so deploying the stack on start takes no real seconds.
INSTANT = LocalSettings(resource_seconds=0)


@pytest.fixture
def credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def busy_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_plain_boto3_reaches_the_local_personalize_through_an_endpoint_url(credentials):
    # Given the local server on a free port
    with local_server(port=0, settings=INSTANT) as served:
        personalize = boto3.client("personalize", endpoint_url=served.url)
        # When a client creates a dataset group and lists them
        group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
        listed = personalize.list_dataset_groups()["datasetGroups"]
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            personalize.describe_dataset_group(datasetGroupArn=group + "-missing")
    # Then it answered like Personalize, next to the dataset group of the deployed stack
    assert group == "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
    deployed = [g["datasetGroupArn"] for g in listed if g["datasetGroupArn"] != group]
    assert len(listed) == 2
    assert re.fullmatch(r"arn:aws:personalize:us-east-1:123456789012:dataset-group/recflow-[0-9a-f]{8}", deployed[0])
    assert {g["status"] for g in listed} <= {"CREATE PENDING", "ACTIVE"}


def test_the_served_moto_holds_the_deployed_stack_with_its_outputs(credentials):
    # Given the local server
    with local_server(port=0, settings=INSTANT) as served:
        # When a client asks CloudFormation for the stack
        (stack,) = boto3.client("cloudformation", endpoint_url=served.url).describe_stacks(StackName="recflow")[
            "Stacks"
        ]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        buckets = [b["Name"] for b in boto3.client("s3", endpoint_url=served.url).list_buckets()["Buckets"]]
    # Then the stack is complete and its outputs name resources that exist
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs["DataBucketName"] in buckets
    key = stack["StackId"].rsplit("/", 1)[1].split("-")[0]  # template.yaml names Personalize resources by it
    assert outputs["DatasetGroupArn"] == f"arn:aws:personalize:us-east-1:123456789012:dataset-group/recflow-{key}"
    assert served.stack.outputs == outputs


def test_stack_name_and_parameters_are_deployed_as_given(credentials):
    # Given a server with its own stack name and a parameter override
    with local_server(port=0, settings=INSTANT, stack_name="shop", parameters={"NumResults": "7"}) as served:
        (stack,) = boto3.client("cloudformation", endpoint_url=served.url).describe_stacks(StackName="shop")["Stacks"]
    # Then the stack carries both
    assert stack["StackName"] == "shop"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["NumResults"] == "7"
    assert served.stack.outputs["DataBucketName"].startswith("shop-")


def test_aws_managed_policies_attach_to_a_client_made_role(credentials):
    with local_server(port=0, settings=INSTANT) as served:
        iam = boto3.client("iam", endpoint_url=served.url)
        iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
        # When a client attaches an AWS managed policy the stack does not use
        iam.attach_role_policy(RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        attached = iam.list_attached_role_policies(RoleName="reader")["AttachedPolicies"]
    # Then it is attached, as on AWS
    assert attached == [
        {"PolicyName": "AmazonS3ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}
    ]


def test_the_lake_is_restored_without_starting_a_run_and_new_objects_are_written_back(credentials, tmp_path):
    # Given a lake with a raw file, a run's output and a local run's summary (not a bucket object)
    lake = tmp_path / "lake"
    files = {"raw/old.dat": "a", "recommendations/r1/users.json.out": "b", "runs/r1/summary.json": "{}"}
    for key, text in files.items():
        (lake / key).parent.mkdir(parents=True, exist_ok=True)
        (lake / key).write_text(text)
    with local_server(port=0, settings=INSTANT, lake_dir=lake, lake_sync_seconds=0.05) as served:
        s3 = boto3.client("s3", endpoint_url=served.url)
        bucket = served.stack.output("DataBucketName")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
        executions = boto3.client("stepfunctions", endpoint_url=served.url).list_executions(
            stateMachineArn=served.stack.output("StateMachineArn")
        )["executions"]
        # When a client puts a new object and changes one, and the server keeps running a moment
        s3.put_object(Bucket=bucket, Key="notes/new.txt", Body=b"new")
        s3.put_object(Bucket=bucket, Key="recommendations/r1/users.json.out", Body=b"changed")
        deadline = time.monotonic() + 5
        while not (lake / "notes/new.txt").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        written_while_serving = (lake / "notes/new.txt").is_file()
    # Then the bucket held the lake's objects, restoring started no run, and both writes reached the lake
    assert served.restored == 2
    assert keys == ["raw/old.dat", "recommendations/r1/users.json.out"]
    assert executions == []
    assert written_while_serving
    assert (lake / "notes/new.txt").read_text() == "new"
    assert (lake / "recommendations/r1/users.json.out").read_text() == "changed"
    assert (lake / "raw/old.dat").read_text() == "a"


def test_a_busy_port_fails_in_one_sentence_before_deploying(busy_port, monkeypatch):
    deployed: list[str] = []
    monkeypatch.setattr(server, "deploy_stack", lambda name, *_: deployed.append(name))
    with pytest.raises(ServeError) as caught, local_server(port=busy_port):
        pass
    assert str(caught.value) == (
        f"port {busy_port} on 127.0.0.1 is already in use: stop what listens there or pick another with --port"
    )
    assert deployed == []  # it failed before deploying anything


def test_a_bad_parameter_fails_before_listening(busy_port):
    # A busy port would be the error if the server listened before checking the parameters.
    with (
        pytest.raises(TemplateError, match="parameter Recipe must be one of"),
        local_server(port=busy_port, parameters={"Recipe": "aws-hrnn"}),
    ):
        pass


# --- the command line ------------------------------------------------------------------------------

runner = CliRunner()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--parameter", "Recipe"], "--parameter takes Name=Value (for example NumResults=10), not 'Recipe'"),
        (["--parameter", "Recipe=aws-hrnn"], "parameter Recipe must be one of"),
        (["--parameter", "Colour=blue"], "unknown template parameter(s): Colour"),
        (["--time-scale", "0"], "--time-scale must be more than 0 when serving"),
        (["--job-seconds", "deploy=5"], "--job-seconds takes PHASE=SECONDS with PHASE in import, train, batch"),
    ],
)
def test_local_serve_bad_options_get_one_sentence_and_exit_2(args, message, busy_port):
    result = runner.invoke(app, ["local", "serve", "--port", str(busy_port), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_local_serve_on_a_busy_port_exits_2_with_the_sentence(busy_port):
    result = runner.invoke(app, ["local", "serve", "--port", str(busy_port)])
    assert result.exit_code == 2
    assert f"port {busy_port} on 127.0.0.1 is already in use" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--parameter", "NumResults"], "--parameter takes Name=Value"),
        (["--parameter", "NumResults=0"], "NumResults=0 is outside 1..500"),
        (["--parameter", "Colour=blue"], "unknown template parameter(s): Colour"),
    ],
)
def test_local_run_takes_the_same_parameters_with_the_same_sentences(args, message, tmp_path):
    raw = tmp_path / "ratings.dat"
    raw.write_text("userID\tmovieID\trating\ttimestamp\n")
    result = runner.invoke(app, ["local", "run", "--raw", str(raw), "--lake", str(tmp_path / "lake"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_a_state_machine_starts_again_after_its_first_execution(credentials):
    # Given the served stack and one finished execution (an empty input fails at the first state)
    with local_server(port=0, settings=INSTANT) as served:
        sfn = boto3.client("stepfunctions", endpoint_url=served.url)
        machine = served.stack.output("StateMachineArn")
        sfn.start_execution(stateMachineArn=machine, name="first", input="{}")
        _wait_until_ended(sfn, machine)
        # When a second one starts (moto 5.2.1 alone answers it with HTTP 500)
        sfn.start_execution(stateMachineArn=machine, name="second", input="{}")
        executions = _wait_until_ended(sfn, machine)
    # Then both ran
    assert sorted(e["name"] for e in executions) == ["first", "second"]


def _wait_until_ended(sfn, machine, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        if all(e["status"] != "RUNNING" for e in executions):
            return executions
        time.sleep(0.1)
    raise AssertionError(f"executions still running after {seconds} s: {executions}")


def test_an_upload_that_starts_no_run_is_reported_with_the_functions_error(credentials):
    # Given the served stack whose state machine a client has deleted
    with local_server(port=0, settings=INSTANT) as served:
        boto3.client("stepfunctions", endpoint_url=served.url).delete_state_machine(
            stateMachineArn=served.stack.output("StateMachineArn")
        )
        # When a client uploads a raw file
        boto3.client("s3", endpoint_url=served.url).put_object(
            Bucket=served.stack.output("DataBucketName"), Key="raw/ratings.dat", Body=b"userID\tmovieID\n"
        )
        errors = list(served.trigger_errors)
    # Then the start_run function's error is there for the command line to print
    (error,) = errors
    assert error.startswith("StateMachineDoesNotExist: ")


NO_RETRIES = Config(retries={"total_max_attempts": 1}, read_timeout=20)


def test_an_action_that_raises_in_the_server_answers_500_naming_it_and_where(credentials, monkeypatch):
    # Given the local server, where moto's Glue raises on GetDatabases
    def get_databases(self: GlueResponse) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(GlueResponse, "get_databases", get_databases)
    # When a client calls it
    with local_server(port=0, settings=INSTANT) as served, pytest.raises(ClientError) as raised:
        boto3.client("glue", endpoint_url=served.url, config=NO_RETRIES).get_databases()
    # Then the answer is Glue's JSON error, naming the action, the error and the line that raised it
    answer = raised.value.response
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert answer["Error"]["Code"] == "InternalFailure"
    message = answer["Error"]["Message"]
    assert message.startswith(
        "The local AWS account (recflow local serve) failed on glue:GetDatabases (RuntimeError: boom, at "
    )
    assert message.endswith(f"test_server.py:{get_databases.__code__.co_firstlineno + 1}).")


def test_a_service_moto_has_no_backend_for_answers_501_in_its_protocol(credentials):
    # Given the local server (moto has no Amazon Q Business)
    # When a client calls a rest-json action of it
    with local_server(port=0, settings=INSTANT) as served, pytest.raises(ClientError) as raised:
        boto3.client("qbusiness", endpoint_url=served.url, config=NO_RETRIES).list_applications()
    # Then it is told, in JSON, that the local account does not implement it
    answer = raised.value.response
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert answer["Error"] == {
        "Code": "NotImplemented",
        "Message": "The local AWS account (recflow local serve) does not implement qbusiness:ListApplications.",
    }


def test_a_cbor_error_answer_reads_back_through_botocores_parser():
    # Given a request in the smithy-rpc-v2-cbor protocol (CloudWatch's first, which boto3 does not send yet)
    request = aws_errors.HttpRequest(
        "POST",
        "/service/GraniteServiceVersion20100801/operation/ListManagedInsightRules",
        {},
        {"smithy-protocol": "rpc-v2-cbor"},
        {},
    )
    # When the server answers that it does not implement it
    answer = aws_errors.not_implemented("cloudwatch", request)
    # Then botocore's CBOR parser reads the code and the message back
    model = botocore.session.get_session().get_service_model("cloudwatch")
    operation = model.operation_model("ListManagedInsightRules")
    parsed = parsers.create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": answer.status, "headers": answer.headers, "body": answer.body}, operation.output_shape
    )
    assert answer.status == 501
    assert parsed["Error"] == {
        "Code": "NotImplemented",
        "Message": "The local AWS account (recflow local serve) does not implement monitoring:ListManagedInsightRules.",
    }


# --- personalize-runtime over HTTP ----------------------------------------------------------------------

RUNTIME_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": n, "type": t} for n, t in (("USER_ID", "string"), ("ITEM_ID", "string"), ("TIMESTAMP", "long"))
    ],
    "version": "1.0",
}


def _interactions_csv(users: int = 30, per_user: int = 40) -> str:
    rows = ["USER_ID,ITEM_ID,TIMESTAMP"]
    for user in range(1, users + 1):
        rows += [f"{user},{(index * 7 + user * 13) % 97 + 1},{1_600_000_000 + index * 60}" for index in range(per_user)]
    return "\n".join(rows) + "\n"


def _active(describe, key: str, seconds: float = 60) -> dict:
    """Poll a Describe call until the resource is ACTIVE (the server's clock runs 1000x real time)."""
    deadline = time.monotonic() + seconds
    while (found := describe()[key])["status"] != "ACTIVE":
        assert "FAILED" not in found["status"], found
        assert time.monotonic() < deadline, f"still {found['status']} after {seconds} s: {found}"
        time.sleep(0.05)
    return found


def test_personalize_runtime_answers_over_http_with_the_batch_output(credentials):
    # Given the local server, a trained solution version of its local Personalize, a campaign and a batch job on it
    with local_server(port=0, settings=INSTANT) as served:
        personalize = boto3.client("personalize", endpoint_url=served.url)
        s3 = boto3.client("s3", endpoint_url=served.url)
        s3.create_bucket(Bucket="shop")
        s3.put_object(Bucket="shop", Key="data/interactions.csv", Body=_interactions_csv().encode())
        s3.put_object(Bucket="shop", Key="batch/users.json", Body=b'{"userId": "1"}\n{"userId": "2"}\n')
        schema = personalize.create_schema(name="shop", schema=json.dumps(RUNTIME_SCHEMA))["schemaArn"]
        group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
        dataset = personalize.create_dataset(
            name="shop", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        role = "arn:aws:iam::123456789012:role/shop"
        job = personalize.create_dataset_import_job(
            jobName="shop", datasetArn=dataset, dataSource={"dataLocation": "s3://shop/data/"}, roleArn=role
        )["datasetImportJobArn"]
        _active(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job), "datasetImportJob")
        solution = personalize.create_solution(
            name="shop",
            datasetGroupArn=group,
            recipeArn="arn:aws:personalize:::recipe/aws-user-personalization-v2",
            performAutoTraining=False,
        )["solutionArn"]
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        _active(lambda: personalize.describe_solution_version(solutionVersionArn=version), "solutionVersion")
        campaign = personalize.create_campaign(name="shop", solutionVersionArn=version)["campaignArn"]
        batch = personalize.create_batch_inference_job(
            jobName="shop",
            solutionVersionArn=version,
            jobInput={"s3DataSource": {"path": "s3://shop/batch/users.json"}},
            jobOutput={"s3DataDestination": {"path": "s3://shop/out/"}},
            roleArn=role,
            numResults=10,
        )["batchInferenceJobArn"]
        _active(lambda: personalize.describe_campaign(campaignArn=campaign), "campaign")
        _active(lambda: personalize.describe_batch_inference_job(batchInferenceJobArn=batch), "batchInferenceJob")
        lines = s3.get_object(Bucket="shop", Key="out/users.json.out")["Body"].read().decode().splitlines()

        # When a plain boto3 personalize-runtime client asks the campaign over HTTP
        runtime = boto3.client("personalize-runtime", endpoint_url=served.url, config=NO_RETRIES)
        answers = {user: runtime.get_recommendations(campaignArn=campaign, userId=user, numResults=10) for user in "12"}
        with pytest.raises(runtime.exceptions.InvalidInputException):
            runtime.get_personalized_ranking(campaignArn=campaign, userId="1", inputList=["1"])

    # Then it answers with the batch output's items, order and scores
    for line in map(json.loads, lines):
        answer = answers[line["input"]["userId"]]
        assert [e["itemId"] for e in answer["itemList"]] == line["output"]["recommendedItems"]
        assert [e["score"] for e in answer["itemList"]] == line["output"]["scores"]
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
