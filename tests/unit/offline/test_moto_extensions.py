"""One test per moto extension (recflow/offline/moto_extensions.py): a moto upgrade that breaks one fails here."""

import io
import json
import re
import textwrap
import time
import tomllib
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from moto import mock_aws
from moto.core.responses import BaseResponse
from moto.server import ThreadedMotoServer

from recflow.offline import moto_extensions
from recflow.offline.clock import SimClock
from recflow.offline.moto_extensions import SYNC_POLL_SECONDS, GlueOutcome, extended_moto
from recflow.personalize_local.backend import backend_factory
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer

REGION = "us-east-1"
FIELDS = {"USER_ID": "string", "ITEM_ID": "string", "TIMESTAMP": "long"}
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "fields": [{"name": n, "type": t} for n, t in FIELDS.items()],
}
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture
def handlers(tmp_path, monkeypatch):
    """A module of Lambda handlers on sys.path, as functions/ is for the real ones."""
    (tmp_path / "fake_handlers.py").write_text(
        textwrap.dedent("""
        import os
        calls = []
        class JobFailed(Exception):
            pass
        def echo(event, context):
            calls.append(event)
            return {"event": event, "greeting": os.environ["GREETING"],
                    "function": context.function_name, "remaining_ok": context.get_remaining_time_in_millis() > 0}
        def fail(event, context):
            raise JobFailed("the import job failed: bad data")
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import fake_handlers

    return importlib.reload(fake_handlers)


def _extended(clock=None, runner=None, throttles=0):
    return extended_moto(
        clock or SimClock(start=1_000_000.0, scale=0),
        runner or (lambda name, args: GlueOutcome("SUCCEEDED")),
        lambda account, region, schemas: pytest.fail("Personalize was not expected here"),
        glue_start_throttles=throttles,
    )


def _function(name, handler):
    iam = boto3.client("iam")
    role = iam.create_role(RoleName=f"r-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler=handler,
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
        Environment={"Variables": {"GREETING": "hello"}},
        Timeout=30,
    )["FunctionArn"]


def _execute(definition, name="run-1"):
    sfn = boto3.client("stepfunctions")
    role = f"arn:aws:iam::123456789012:role/{name}"
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while (result := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.02)
    return result


def test_lambda_invoke_runs_the_handler_in_process_with_its_environment_and_context(aws, handlers):
    with _extended():
        _function("echo", "fake_handlers.echo")
        reply = boto3.client("lambda").invoke(FunctionName="echo", Payload=b'{"run_id": "r1"}')
    payload = json.loads(reply["Payload"].read())
    assert "FunctionError" not in reply
    assert payload == {
        "event": {"run_id": "r1"},
        "greeting": "hello",
        "function": "echo",
        "remaining_ok": True,
    }


def test_a_handler_exception_becomes_a_function_error_named_after_the_class(aws, handlers):
    with _extended():
        _function("fail", "fake_handlers.fail")
        reply = boto3.client("lambda").invoke(FunctionName="fail", Payload=b"{}")
    error = json.loads(reply["Payload"].read())
    assert reply["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("JobFailed", "the import job failed: bad data")


def test_a_state_machine_catches_the_handler_error_by_its_class_name(aws, handlers):
    with _extended():
        arn = _function("fail", "fake_handlers.fail")
        result = _execute(
            {
                "StartAt": "Start",
                "States": {
                    "Start": {
                        "Type": "Task",
                        "Resource": arn,
                        "Catch": [{"ErrorEquals": ["JobFailed"], "Next": "Caught"}],
                        "End": True,
                    },
                    "Caught": {"Type": "Pass", "End": True},
                },
            }
        )
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["Error"] == "JobFailed"


def test_eventbridge_delivers_s3_object_created_events_to_a_lambda_target(aws, handlers):
    with _extended() as ext:
        arn = _function("echo", "fake_handlers.echo")
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="lake")
        s3.put_bucket_notification_configuration(
            Bucket="lake", NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        events = boto3.client("events")
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"object": {"key": [{"prefix": "raw/"}]}},
        }
        events.put_rule(Name="upload", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="upload", Targets=[{"Id": "1", "Arn": arn}])
        s3.put_object(Bucket="lake", Key="other/x.dat", Body=b"ignored")
        s3.put_object(Bucket="lake", Key="raw/ratings.dat", Body=b"data")
    assert [e["detail"]["object"]["key"] for e in handlers.calls] == ["raw/ratings.dat"]
    assert handlers.calls[0]["time"].endswith("Z")  # ISO 8601 like AWS, not moto's epoch number
    assert ext.trigger_errors == []


def test_eventbridge_starts_a_state_machine_target_with_the_event_as_input(aws):
    with _extended():
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="echo",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        events = boto3.client("events")
        events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"]}))
        events.put_targets(Rule="orders", Targets=[{"Id": "1", "Arn": machine}])
        events.put_events(Entries=[{"Source": "shop", "DetailType": "Order", "Detail": '{"id": 7}'}])
        events.put_events(Entries=[{"Source": "elsewhere", "DetailType": "Order", "Detail": "{}"}])
        (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
        started = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(started["input"])["detail"] == {"id": 7}


def _glue_machine(run_id):
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::glue:startJobRun.sync",
        "Parameters": {"JobName": "etl", "Arguments": {"--run_id": run_id}},
        "End": True,
    }
    return {"StartAt": "Etl", "States": {"Etl": task}}


def _glue_job():
    boto3.client("glue").create_job(
        Name="etl", Role="r", Command={"Name": "glueetl"}, DefaultArguments={"--bucket": "lake"}, Timeout=10
    )


def test_glue_start_job_run_sync_runs_the_job_with_its_arguments(aws):
    ran = []
    with _extended(runner=lambda name, args: ran.append((name, args)) or GlueOutcome("SUCCEEDED")):
        _glue_job()
        result = _execute(_glue_machine("r1"))
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["JobRunState"] == "SUCCEEDED"
    assert ran == [("etl", {"--bucket": "lake", "--run_id": "r1"})]


def test_a_failed_glue_run_fails_the_task_with_its_error_message(aws):
    with _extended(runner=lambda name, args: GlueOutcome("FAILED", "TypeError: bad input")):
        _glue_job()
        result = _execute(_glue_machine("r1"))
    assert result["status"] == "FAILED"
    assert result["error"] == "States.TaskFailed"
    assert json.loads(result["cause"])["ErrorMessage"] == "TypeError: bad input"


def test_a_stalled_glue_run_times_out_after_the_job_timeout_in_pipeline_time(aws):
    clock = SimClock(start=0.0, scale=0)
    with _extended(clock=clock, runner=lambda name, args: GlueOutcome("RUNNING")):
        _glue_job()
        result = _execute(_glue_machine("r1"))
    assert result["status"] == "FAILED"
    assert json.loads(result["cause"])["JobRunState"] == "TIMEOUT"
    assert 600 <= clock.now() <= 600 + SYNC_POLL_SECONDS  # Timeout=10 minutes


def test_glue_start_is_throttled_the_requested_number_of_times(aws):
    with _extended(throttles=1):
        _glue_job()
        glue = boto3.client("glue")
        with pytest.raises(glue.exceptions.ConcurrentRunsExceededException):
            glue.start_job_run(JobName="etl")
        assert glue.start_job_run(JobName="etl")["JobRunId"]


def test_wait_states_and_retry_intervals_pass_on_the_simulated_clock(aws, handlers):
    clock = SimClock(start=0.0, scale=0)
    with _extended(clock=clock):
        arn = _function("fail", "fake_handlers.fail")
        started = time.monotonic()
        result = _execute(
            {
                "StartAt": "Wait",
                "States": {
                    "Wait": {"Type": "Wait", "Seconds": 3600, "Next": "Fail"},
                    "Fail": {
                        "Type": "Task",
                        "Resource": arn,
                        "End": True,
                        "Retry": [
                            {
                                "ErrorEquals": ["JobFailed"],
                                "IntervalSeconds": 100,
                                "MaxAttempts": 2,
                                "BackoffRate": 2.0,
                            }
                        ],
                    },
                },
            }
        )
    assert result["status"] == "FAILED"
    assert clock.now() == 3600 + 100 + 200
    assert time.monotonic() - started < 10


_local_personalize = backend_factory(
    SimClock(start=1_000_000.0, scale=0),
    lambda: pytest.fail("no job was expected to touch S3"),
    default_trainer(),
    LocalSettings(resource_seconds=0),
)


def _extended_personalize():
    return extended_moto(SimClock(scale=0), lambda n, a: GlueOutcome("SUCCEEDED"), _local_personalize)


def test_personalize_actions_reach_the_local_service_through_boto3(aws):
    with _extended_personalize() as ext:
        personalize = boto3.client("personalize")
        schema = personalize.create_schema(name="s", schema=json.dumps(INTERACTIONS_SCHEMA))["schemaArn"]
        group = personalize.create_dataset_group(name="g")["datasetGroupArn"]
        dataset = personalize.create_dataset(
            name="d", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        described = personalize.describe_dataset(datasetArn=dataset)["dataset"]
        missing = group.replace(":dataset-group/g", ":dataset-group/missing")
        with pytest.raises(personalize.exceptions.ResourceNotFoundException, match=f"dataset group {missing} does"):
            personalize.describe_dataset_group(datasetGroupArn=missing)
    assert group == "arn:aws:personalize:us-east-1:123456789012:dataset-group/g"
    # The schema moto stored reached the local service through the schema lookup.
    assert (described["schemaArn"], described["status"]) == (schema, "ACTIVE")
    assert list(ext._personalize) == [("123456789012", REGION)]


def test_an_unimplemented_personalize_action_is_a_json_error_in_process(aws):
    with _extended_personalize():
        personalize = boto3.client("personalize")
        with pytest.raises(ClientError) as caught:
            personalize.list_recipes()
    assert caught.value.response["Error"] == {
        "Code": "UnknownOperationException",
        "Message": "The local Personalize service does not implement ListRecipes.",
    }
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.fixture
def moto_server(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("call", "action"),
    [
        (lambda client: client.list_recipes(), "ListRecipes"),
        (lambda client: client.list_recommenders(), "ListRecommenders"),
        (lambda client: client.create_event_tracker(name="e", datasetGroupArn="arn:aws:x"), "CreateEventTracker"),
    ],
)
def test_an_unimplemented_personalize_action_is_a_json_error_through_moto_server(moto_server, call, action):
    # Given moto server with the local service, and a client that does not retry
    no_retries = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    with _extended_personalize():
        personalize = boto3.client("personalize", endpoint_url=moto_server, config=no_retries)
        assert personalize.create_dataset_group(name="g")["datasetGroupArn"].endswith(":dataset-group/g")

        # When it calls an action the local service does not implement
        started = time.monotonic()
        with pytest.raises(ClientError) as caught:
            call(personalize)
        elapsed = time.monotonic() - started

    # Then the answer is AWS's JSON error for an unknown operation, at once, not an HTML 500
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"] == {
        "Code": "UnknownOperationException",
        "Message": f"The local Personalize service does not implement {action}.",
    }
    assert elapsed < 2.0


@pytest.mark.parametrize("where", ["in process", "moto server"])
def test_personalize_runtime_requests_reach_the_local_runtime(request, where):
    # Given the local service with a campaign being created, in process or behind moto server
    if where == "in process":
        request.getfixturevalue("aws")
        endpoint = {}
    else:
        endpoint = {"endpoint_url": request.getfixturevalue("moto_server")}
    no_retries = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    with _extended_personalize():
        runtime = boto3.client("personalize-runtime", config=no_retries, **endpoint)
        campaign = f"arn:aws:personalize:{REGION}:123456789012:campaign/c"
        # When a client asks personalize-runtime (signed as "personalize", on its own host and paths)
        with pytest.raises(ClientError) as recommendations:
            runtime.get_recommendations(campaignArn=campaign, userId="1")
        with pytest.raises(ClientError) as ranking:
            runtime.get_personalized_ranking(campaignArn=campaign, userId="1", inputList=["1"])
    # Then the local runtime answers each action with its rest-json error
    for caught in (recommendations, ranking):
        assert caught.value.response["Error"] == {
            "Code": "ResourceNotFoundException",
            "Message": f"The campaign {campaign} does not exist.",
        }
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert recommendations.value.operation_name == "GetRecommendations"
    assert ranking.value.operation_name == "GetPersonalizedRanking"


# --- the moto version and the seams ----------------------------------------------------------------------------


def test_the_pinned_moto_is_the_one_the_extensions_are_written_for():
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    pins = [dep for dep in pyproject["project"]["dependencies"] if dep.startswith("moto")]
    assert [pin.rpartition("==")[2] for pin in pins] == [moto_extensions.MOTO_VERSION]
    assert moto_extensions.moto_mismatch() is None


def test_every_patched_moto_function_is_a_checked_seam():
    # Given every `patch.object(<moto class or module>, "<attribute>", …)` in moto_extensions.py
    source = Path(moto_extensions.__file__).read_text()
    patched = set(re.findall(r'patch\.object\(\s*(\w+),\s*"(\w+)"', source)) - {("self", "targets")}
    assert ("StateTaskServiceGlue", "_eval_integration_pattern") in patched

    # Then each is a seam checked against moto's parameters (module attributes by module name)
    def checked(owner: str, attribute: str) -> bool:
        return any(
            seam.attribute == f"{owner}.{attribute}"
            or (seam.attribute == attribute and seam.module.rpartition(".")[2] == owner)
            for seam in moto_extensions.MOTO_SEAMS
        )

    assert sorted(p for p in patched if not checked(*p)) == []


def test_a_moved_seam_fails_with_one_sentence_naming_it(monkeypatch):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue import (
        StateTaskServiceGlue,
    )

    def moved(self, env, resource_runtime_part, normalised_parameters, state_credentials, extra=None):
        return None

    monkeypatch.setattr(StateTaskServiceGlue, "_eval_integration_pattern", moved)
    monkeypatch.setattr(moto_extensions.importlib.metadata, "version", lambda name: "5.3.0")
    assert moto_extensions.moto_mismatch() == (
        "recflow's moto extension 'Glue .sync polling' expects moto 5.2.1's "
        "StateTaskServiceGlue._eval_integration_pattern(self, env, resource_runtime_part, normalised_parameters, "
        "state_credentials); moto 5.3.0 has StateTaskServiceGlue._eval_integration_pattern(self, env, "
        "resource_runtime_part, normalised_parameters, state_credentials, extra=None); pin moto==5.2.1."
    )


def test_a_missing_seam_is_named_as_missing(monkeypatch):
    from moto.personalize.responses import PersonalizeResponse

    monkeypatch.delattr(BaseResponse, "call_action")
    assert PersonalizeResponse  # the class itself is still there
    assert moto_extensions.moto_mismatch() == (
        "recflow's moto extension 'local Personalize' expects moto 5.2.1's PersonalizeResponse.call_action(self); "
        "moto 5.2.1 has no moto.personalize.responses.PersonalizeResponse.call_action; pin moto==5.2.1."
    )


def test_another_moto_version_fails_even_when_every_seam_matches(monkeypatch):
    monkeypatch.setattr(moto_extensions.importlib.metadata, "version", lambda name: "5.2.2")
    assert moto_extensions.moto_mismatch() == (
        "recflow's moto extensions are written for moto 5.2.1, but moto 5.2.2 is installed; pin moto==5.2.1."
    )


def test_entering_extended_moto_checks_moto_first(monkeypatch):
    # Given a moto whose Wait states moved
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    monkeypatch.setattr(WaitFunction, "_wait_interval", lambda self, env: None)
    moto_extensions.check_moto.cache_clear()
    try:
        # Then extended_moto refuses to start, naming the extension
        refused = pytest.raises(
            moto_extensions.MotoMismatch, match="^recflow's moto extension 'simulated Wait states' "
        )
        with refused, _extended():
            pytest.fail("extended_moto started with a moved seam")
    finally:
        moto_extensions.check_moto.cache_clear()


def test_aws_chunked_uploads_are_decoded_to_the_bytes_sent(aws):
    # Given a body as botocore sends it by default: aws-chunked, 1 MB chunks, a CRC32 trailer
    body = bytes(range(256)) * 12_289  # 3 MB and a bit: several chunks and a short last one
    encoded = AwsChunkedWrapper(io.BytesIO(body), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32")

    # Then the decoder gives back exactly the data
    assert moto_extensions.decode_aws_chunked(encoded.read()) == body
    assert moto_extensions.decode_aws_chunked(b"") == b""

    # And an upload through the patched moto stores it, checksum and all
    with _extended_personalize():
        s3 = boto3.client("s3", config=Config(request_checksum_calculation="when_supported"))
        s3.create_bucket(Bucket="chunked-bucket")
        s3.put_object(Bucket="chunked-bucket", Key="k", Body=body)
        assert s3.get_object(Bucket="chunked-bucket", Key="k")["Body"].read() == body


def test_execution_history_comes_in_pages_in_the_order_asked(aws):
    # Given an execution of 60 Pass states: 2 events each, plus the start and the end
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(59)}
    states["S59"] = {"Type": "Pass", "End": True}
    with _extended():
        result = _execute({"StartAt": "S0", "States": states})
        sfn = boto3.client("stepfunctions")
        arn = result["executionArn"]

        # Then the default page holds 100 events, oldest first, and says where to go on
        first = sfn.get_execution_history(executionArn=arn)
        assert [e["id"] for e in first["events"]] == list(range(1, 101))
        assert first["nextToken"]

        # And pages of 25 read forwards and backwards give every event once, in that order
        def ids(reverse):
            pages = sfn.get_paginator("get_execution_history").paginate(
                executionArn=arn, reverseOrder=reverse, PaginationConfig={"PageSize": 25}
            )
            return [[e["id"] for e in page["events"]] for page in pages]

        forwards, backwards = ids(False), ids(True)
        total = 2 * 60 + 2
        assert sum(forwards, []) == list(range(1, total + 1))
        assert sum(backwards, []) == list(range(total, 0, -1))
        assert [len(page) for page in backwards] == [25] * 4 + [total - 100]
        newest = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=1)["events"]
        assert [e["type"] for e in newest] == ["ExecutionSucceeded"]

        # And a page size over 1,000 or a token it never gave are refused as Step Functions refuses them
        with pytest.raises(ClientError, match="maxResults.*less than or equal to 1000") as too_many:
            sfn.get_execution_history(executionArn=arn, maxResults=1001)
        assert too_many.value.response["Error"]["Code"] == "ValidationException"
        with pytest.raises(ClientError) as bad_token:
            sfn.get_execution_history(executionArn=arn, nextToken="not-a-token")
        assert bad_token.value.response["Error"]["Code"] == "InvalidToken"
