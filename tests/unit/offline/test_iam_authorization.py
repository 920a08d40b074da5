"""The offline IAM: policy evaluation as IAM does it, the resources of a request, the run's authority in moto."""

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from recflow.offline.authorization import (
    EVENTS,
    LAMBDA,
    PERSONALIZE,
    AccessDenied,
    Authority,
    HttpCall,
    Policy,
    Principal,
    Request,
    UnknownResource,
    conditions_hold,
    evaluate,
    requests_of,
)
from recflow.offline.template import ACCOUNT_ID, REGION

BUCKET = "lake"


def _call(service: str, operation: str, **kwargs: Any) -> HttpCall:
    defaults: dict[str, Any] = {
        "method": "POST",
        "uri": f"https://{service}.{REGION}.amazonaws.com/",
        "body": b"",
        "form": {},
        "headers": {},
        "account": ACCOUNT_ID,
        "region": REGION,
    }
    return HttpCall(service=service, operation=operation, **{**defaults, **kwargs})


# --- conditions and statements --------------------------------------------------------------------


def test_a_key_the_request_lacks_fails_a_positive_operator_and_passes_a_negated_or_if_exists_one() -> None:
    assert not conditions_hold({"StringEquals": {"aws:SourceAccount": "1"}}, {})
    assert conditions_hold({"StringNotEquals": {"aws:SourceAccount": "1"}}, {})
    assert conditions_hold({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, {})
    assert conditions_hold({"Null": {"aws:SourceArn": "true"}}, {})
    assert not conditions_hold({"Null": {"aws:SourceArn": "false"}}, {})


def test_condition_values_match_as_iam_matches_them() -> None:
    context = {"s3:prefix": "transformed/run-1/", "aws:SecureTransport": "true", "AWS:SourceArn": "arn:aws:events:x"}
    assert conditions_hold({"StringLike": {"s3:prefix": ["batch/*", "transformed/*"]}}, context)
    assert not conditions_hold({"StringLike": {"s3:prefix": "raw/*"}}, context)
    assert not conditions_hold({"Bool": {"aws:SecureTransport": "false"}}, context)
    assert conditions_hold({"ArnLike": {"aws:sourcearn": "arn:aws:events:*"}}, context)  # keys ignore case
    with pytest.raises(ValueError, match="NumericLessThan"):
        conditions_hold({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"})


def test_an_explicit_deny_wins_and_a_statement_whose_condition_fails_does_not_apply() -> None:
    # Given the template's bucket policy shape: a conditional Deny and an Allow
    policy = Policy(
        "bucket/lake",
        {
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": "arn:aws:s3:::lake/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {"Effect": "Allow", "Principal": {"Service": PERSONALIZE}, "Action": "s3:GetObject", "Resource": "*"},
            ]
        },
    )
    secure = Request("s3:GetObject", "arn:aws:s3:::lake/transformed/a.csv", {"aws:SecureTransport": "true"})
    insecure = Request("s3:GetObject", "arn:aws:s3:::lake/transformed/a.csv", {"aws:SecureTransport": "false"})
    # Then over TLS the service principal is allowed by the second statement, and without TLS denied
    assert evaluate([policy], secure, frozenset({PERSONALIZE})).allowed_by == ("bucket/lake#1",)
    assert evaluate([policy], insecure, frozenset({PERSONALIZE})).denied_by == "bucket/lake"
    # And another principal is not named by the Allow
    assert evaluate([policy], secure, frozenset({"arn:aws:iam::1:role/x"})).allowed_by == ()


def test_actions_match_ignoring_case_and_resources_by_wildcard() -> None:
    statement = {"Effect": "Allow", "Action": "Personalize:Describe*", "Resource": "arn:*:x/*"}
    policy = Policy("p", {"Statement": [statement]})
    assert evaluate([policy], Request("personalize:DescribeSolution", "arn:aws:x/y")).allowed_by == ("p#0",)
    assert evaluate([policy], Request("personalize:DescribeSolution", "arn:aws:z/y")).allowed_by == ()
    assert evaluate([policy], Request("personalize:CreateSolution", "arn:aws:x/y")).allowed_by == ()


# --- what a request asks for --------------------------------------------------------------------------


def test_a_personalize_job_request_is_authorized_on_the_job_arn_and_passes_its_role() -> None:
    body = json.dumps({"jobName": "j1", "datasetArn": "arn:ds", "roleArn": "arn:aws:iam::1:role/p"}).encode()
    requests = requests_of(_call("personalize", "CreateDatasetImportJob", body=body))
    assert [(r.action, r.resource) for r in requests] == [
        ("personalize:CreateDatasetImportJob", f"arn:aws:personalize:{REGION}:{ACCOUNT_ID}:dataset-import-job/j1"),
        ("iam:PassRole", "arn:aws:iam::1:role/p"),
    ]
    assert requests[1].context["iam:PassedToService"] == PERSONALIZE


def test_an_action_without_a_resource_type_is_authorized_on_star() -> None:
    body = json.dumps({"solutionArn": "arn:aws:personalize:us-east-1:1:solution/s"}).encode()
    (request,) = requests_of(_call("personalize", "ListSolutionVersions", body=body))
    assert (request.action, request.resource) == ("personalize:ListSolutionVersions", "*")


def test_lambda_invoke_is_invoke_function_on_the_function_in_the_path() -> None:
    uri = "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/recflow-Check-1/invocations"
    (request,) = requests_of(_call("lambda", "Invoke", uri=uri, body=b'{"x": 1}'))
    assert (request.action, request.resource) == (
        "lambda:InvokeFunction",
        f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:recflow-Check-1",
    )


def test_s3_list_carries_its_prefix_and_a_copy_also_reads_its_source() -> None:
    listing = _call("s3", "ListBucket", uri="https://lake.s3.amazonaws.com/?list-type=2&prefix=raw%2F")
    (request,) = requests_of(HttpCall(**{**listing.__dict__, "s3_resource": "arn:aws:s3:::lake"}))
    assert request.context["s3:prefix"] == "raw/"
    copy = _call("s3", "PutObject", headers={"x-amz-copy-source": "lake/raw/a.csv"}, s3_resource="arn:aws:s3:::lake/b")
    assert [(r.action, r.resource) for r in requests_of(copy)] == [
        ("s3:GetObject", "arn:aws:s3:::lake/raw/a.csv"),
        ("s3:PutObject", "arn:aws:s3:::lake/b"),
    ]


def test_an_action_whose_resource_is_not_modelled_is_refused_with_what_to_do() -> None:
    with pytest.raises(UnknownResource, match="add it to RESOURCE_ARNS"):
        requests_of(_call("personalize", "CreateRecommender", body=b"{}"))


# --- the run's authority in moto ------------------------------------------------------------------


def _role(iam: Any, name: str, service: str, statements: list[dict[str, Any]]) -> str:
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    return arn


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield boto3.client("iam", region_name=REGION), boto3.client("s3", region_name=REGION)


def test_a_role_session_is_allowed_what_its_policy_allows_and_refused_the_rest_naming_all_three(aws: Any) -> None:
    iam, s3 = aws
    s3.create_bucket(Bucket=BUCKET)
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/raw/*"}
    principal = Principal(LAMBDA, _role(iam, "reader", LAMBDA, [read]), session="fn")
    authority = Authority(ACCOUNT_ID, REGION)
    authority.authorize(principal, [Request("s3:GetObject", f"arn:aws:s3:::{BUCKET}/raw/a")])
    with pytest.raises(AccessDenied) as denied:
        authority.authorize(principal, [Request("s3:GetObject", f"arn:aws:s3:::{BUCKET}/transformed/a")])
    assert str(denied.value) == (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/reader/fn is not authorized to perform: s3:GetObject on "
        f"resource: arn:aws:s3:::{BUCKET}/transformed/a because no identity-based policy allows the s3:GetObject action"
    )
    assert [(c.action, c.allowed) for c in authority.calls] == [("s3:GetObject", True), ("s3:GetObject", False)]


def test_personalize_needs_the_passed_role_and_the_bucket_policy_for_its_service_principal(aws: Any) -> None:
    iam, s3 = aws
    s3.create_bucket(Bucket=BUCKET)
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/transformed/*"}
    principal = Principal(PERSONALIZE, _role(iam, "personalize", PERSONALIZE, [read]), source_arn="arn:job")
    authority = Authority(ACCOUNT_ID, REGION)
    request = Request("s3:GetObject", f"arn:aws:s3:::{BUCKET}/transformed/a.csv")
    # Without a bucket policy for the service principal, the role's policy is not enough
    with pytest.raises(AccessDenied, match="the bucket policy does not allow personalize.amazonaws.com"):
        authority.authorize(principal, [request])
    # With one, for this account, it is
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": PERSONALIZE},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/transformed/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}},
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    authority.authorize(principal, [request])
    assert authority.calls[-1].granted_by == ("role/personalize/p#0", f"bucket/{BUCKET}#0")


def test_a_service_not_trusted_by_the_role_gets_no_credentials(aws: Any) -> None:
    iam, _ = aws
    logs = {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}
    role = _role(iam, "glue-only", "glue.amazonaws.com", [logs])
    with pytest.raises(AccessDenied, match="sts:AssumeRole .* trust policy"):
        Authority(ACCOUNT_ID, REGION).credentials(Principal(LAMBDA, role))


def test_moto_refuses_a_request_signed_by_a_role_session_its_policy_does_not_allow(aws: Any) -> None:
    # Given enforcement as the offline run installs it, and a Lambda role that may only read raw/
    from recflow.offline.moto_extensions import Extensions, iam_enforced

    iam, s3 = aws
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="raw/a", Body=b"1")
    s3.put_object(Bucket=BUCKET, Key="transformed/a", Body=b"2")
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/raw/*"}
    principal = Principal(LAMBDA, _role(iam, "reader", LAMBDA, [read]), session="fn")
    authority = Authority(ACCOUNT_ID, REGION)
    ext = Extensions(clock=None, glue_runner=None, personalize_factory=None)  # type: ignore[arg-type]
    with iam_enforced(ext, authority):
        client = authority.client("s3", principal)
        # When it reads what it may and what it may not, Then moto answers the second with AccessDenied
        assert client.get_object(Bucket=BUCKET, Key="raw/a")["Body"].read() == b"1"
        with pytest.raises(ClientError) as denied:
            client.get_object(Bucket=BUCKET, Key="transformed/a")
        # And the operator (the credentials in force when enforcement began) is not checked
        assert s3.get_object(Bucket=BUCKET, Key="transformed/a")["Body"].read() == b"2"
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert f"perform: s3:GetObject on resource: arn:aws:s3:::{BUCKET}/transformed/a" in str(denied.value)


def test_eventbridge_invokes_a_function_only_through_the_function_policy(aws: Any) -> None:
    iam, _ = aws
    authority = Authority(ACCOUNT_ID, REGION)
    rule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/raw-upload"
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:missing"
    with pytest.raises(AccessDenied, match="no resource-based policy allows the service principal"):
        authority.authorize(Principal(EVENTS, source_arn=rule), [Request("lambda:InvokeFunction", function)])


def test_personalize_runtime_calls_are_authorized_on_the_campaign(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given enforcement with the runtime routed, and a Lambda role that may ask one campaign only
    from recflow.offline.clock import SimClock
    from recflow.offline.moto_extensions import GlueOutcome, extended_moto, iam_enforced
    from recflow.personalize_local.backend import backend_factory
    from recflow.personalize_local.trainer import default_trainer

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    iam, _ = aws
    allowed = f"arn:aws:personalize:{REGION}:{ACCOUNT_ID}:campaign/allowed"
    other = f"arn:aws:personalize:{REGION}:{ACCOUNT_ID}:campaign/other"
    ask = {"Effect": "Allow", "Action": "personalize:GetRecommendations", "Resource": allowed}
    principal = Principal(LAMBDA, _role(iam, "asker", LAMBDA, [ask]), session="fn")
    authority = Authority(ACCOUNT_ID, REGION)
    clock = SimClock(scale=0)
    factory = backend_factory(clock, lambda: pytest.fail("no S3 expected"), default_trainer())
    with extended_moto(clock, lambda n, a: GlueOutcome("SUCCEEDED"), factory) as ext, iam_enforced(ext, authority):
        runtime = authority.client("personalize-runtime", principal)
        # When it asks both campaigns (neither exists)
        with pytest.raises(ClientError) as past_iam:
            runtime.get_recommendations(campaignArn=allowed, userId="1")
        with pytest.raises(ClientError) as denied:
            runtime.get_recommendations(campaignArn=other, userId="1")
    # Then IAM lets the first through to the local runtime and refuses the second, naming the campaign
    assert past_iam.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"perform: personalize:GetRecommendations on resource: {other}" in str(denied.value)
    assert [(c.action, c.resource, c.allowed) for c in authority.calls] == [
        ("personalize:GetRecommendations", allowed, True),
        ("personalize:GetRecommendations", other, False),
    ]
