"""IAM for the offline run: who makes each AWS call, what it asks for, and whether the template allows it.

Every principal of the stack gets real credentials from moto's STS (a Lambda function's role while its
handler runs, the state machine's role for its tasks, the Glue job's role for the ETL, the role passed to
Personalize for a job's S3 reads and writes). moto's request authorization hands each signed request to
`Authority.authorize` (recflow/offline/moto_extensions.py, section 9), which names the IAM action and the
resource ARNs of the request (RESOURCE_ARNS, checked against the service authorization reference in
tests/unit/offline/test_iam_reference.py) and evaluates the policies as IAM does:

- an explicit Deny in any policy that applies denies;
- a role session is allowed by its role's policies, or by the resource's policy naming it;
- a service acting on a resource (EventBridge invoking a function) needs the resource's policy to allow
  the service principal, with `aws:SourceArn`/`aws:SourceAccount` of what it acts for;
- Personalize reading or writing the bucket with the role passed to it needs both the role's policy and
  the bucket policy allowing `personalize.amazonaws.com`;
- a call passing a role to a service (`roleArn` of a Personalize job) also needs `iam:PassRole` on it with
  `iam:PassedToService`.

A denied call raises AccessDenied, whose message names the principal, the action and the resource, where
AWS would refuse it. Every decision is recorded (`calls`) for `recflow local iam`.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import boto3

PARTITION = "aws"

# Service principals of the stack's roles, as their trust policies name them.
LAMBDA = "lambda.amazonaws.com"
STATES = "states.amazonaws.com"
GLUE = "glue.amazonaws.com"
PERSONALIZE = "personalize.amazonaws.com"
EVENTS = "events.amazonaws.com"

# The IAM action of an API operation where the two names differ.
IAM_ACTIONS = {"lambda:Invoke": "lambda:InvokeFunction"}


class AccessDenied(PermissionError):
    """IAM would refuse the call; the message names the principal, the action and the resource."""

    def __init__(self, principal: str, action: str, resource: str, because: str) -> None:
        super().__init__(f"User: {principal} is not authorized to perform: {action} on resource: {resource} {because}")
        self.principal, self.action, self.resource = principal, action, resource


class UnknownResource(PermissionError):
    """A principal of the stack called an action whose resource the offline IAM cannot name."""


@dataclass(frozen=True)
class Principal:
    """Who a set of credentials stands for: a role session assumed by `service`, or the service itself
    (role_arn None: EventBridge delivering an event). `source_arn` is what the service acts for."""

    service: str
    role_arn: str | None = None
    source_arn: str | None = None
    session: str = "offline"

    @property
    def name(self) -> str:
        return self.role_arn.rsplit("/", 1)[1] if self.role_arn else self.service

    @property
    def arn(self) -> str:
        """As IAM names the caller in an AccessDenied message."""
        if self.role_arn is None:
            return self.service
        account = self.role_arn.split(":")[4]
        return f"arn:{PARTITION}:sts::{account}:assumed-role/{self.name}/{self.session}"


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for a call: an action on one resource, with the request's context."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """A recorded decision: `granted_by` names the statements that allowed it ("policy#index")."""

    principal: str
    action: str
    resource: str
    allowed: bool
    granted_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    name: str  # "role/<role>/<policy>", "bucket/<bucket>", "function/<name>", "trust/<role>"
    document: dict[str, Any]

    def statements(self) -> list[dict[str, Any]]:
        found = self.document.get("Statement", [])
        return found if isinstance(found, list) else [found]


# --- what a request asks for --------------------------------------------------------------------------

Params = Mapping[str, Any]
ArnOf = Callable[[Params, str, str], str]  # (request parameters, account, region) -> resource ARN


def _personalize(kind: str, name_param: str) -> ArnOf:
    return lambda p, account, region: f"arn:{PARTITION}:personalize:{region}:{account}:{kind}/{p[name_param]}"


def _param(name: str) -> ArnOf:
    return lambda p, account, region: str(p[name])


def _runtime_target(p: Params, account: str, region: str) -> str:
    return str(p.get("campaignArn") or p.get("recommenderArn") or "*")


def _glue_job(p: Params, account: str, region: str) -> str:
    return f"arn:{PARTITION}:glue:{region}:{account}:job/{p['JobName']}"


def _function(p: Params, account: str, region: str) -> str:
    name = str(p["FunctionName"])
    return name if name.startswith("arn:") else f"arn:{PARTITION}:lambda:{region}:{account}:function:{name}"


# The resource ARN each action recflow's principals call is authorized on, built from the request's
# parameters; None for an action that takes no resource type (IAM evaluates it on "*"). The resource type
# of each is the one the service authorization reference gives (tests/unit/offline/test_iam_reference.py).
RESOURCE_ARNS: dict[str, ArnOf | None] = {
    "personalize:CreateDatasetImportJob": _personalize("dataset-import-job", "jobName"),
    "personalize:DescribeDatasetImportJob": _param("datasetImportJobArn"),
    "personalize:CreateSolution": _personalize("solution", "name"),
    "personalize:DescribeSolution": _param("solutionArn"),
    "personalize:DeleteSolution": _param("solutionArn"),
    "personalize:CreateSolutionVersion": _param("solutionArn"),
    "personalize:DescribeSolutionVersion": _param("solutionVersionArn"),
    "personalize:StopSolutionVersionCreation": _param("solutionVersionArn"),
    "personalize:GetSolutionMetrics": _param("solutionVersionArn"),
    "personalize:ListSolutionVersions": None,
    "personalize:CreateBatchInferenceJob": _personalize("batch-inference-job", "jobName"),
    "personalize:DescribeBatchInferenceJob": _param("batchInferenceJobArn"),
    "personalize:CreateFilter": _personalize("filter", "name"),
    "personalize:DescribeFilter": _param("filterArn"),
    "personalize:DeleteFilter": _param("filterArn"),
    "personalize:CreateCampaign": _personalize("campaign", "name"),
    "personalize:DescribeCampaign": _param("campaignArn"),
    "personalize:UpdateCampaign": _param("campaignArn"),
    "personalize:DeleteCampaign": _param("campaignArn"),
    # personalize-runtime signs as "personalize"; by the reference its two actions take only the campaign (or
    # recommender), not the filter a request names.
    "personalize:GetRecommendations": _runtime_target,
    "personalize:GetPersonalizedRanking": _runtime_target,
    "states:StartExecution": _param("stateMachineArn"),
    "states:DescribeExecution": _param("executionArn"),
    "glue:StartJobRun": _glue_job,
    "glue:GetJobRun": _glue_job,
    "glue:GetJobRuns": _glue_job,
    "glue:BatchStopJobRun": _glue_job,
    "lambda:InvokeFunction": _function,
    "sns:Publish": _param("TopicArn"),
}
# Parameters naming a role the call passes to the service (iam:PassRole, iam:PassedToService).
PASSED_ROLES = {
    "personalize:CreateDatasetImportJob": ("roleArn", PERSONALIZE),
    "personalize:CreateBatchInferenceJob": ("roleArn", PERSONALIZE),
    "personalize:CreateDatasetGroup": ("roleArn", PERSONALIZE),
}


@dataclass(frozen=True)
class HttpCall:
    """What moto received: enough to name the action, its resources and its condition context."""

    service: str  # the signing name: s3, personalize, states, glue, lambda, sns …
    operation: str  # moto's action name: the API operation, or for S3 the IAM action
    method: str
    uri: str
    body: bytes
    form: Mapping[str, Any]
    headers: Mapping[str, str]
    account: str
    region: str
    s3_resource: str | None = None  # moto computes S3's resource ARN itself


def requests_of(call: HttpCall) -> list[Request]:
    """The authorizations IAM makes for the call, in the order it makes them."""
    action = IAM_ACTIONS.get(f"{call.service}:{call.operation}", f"{call.service}:{call.operation}")
    url = urlparse(call.uri)
    context = {"aws:SecureTransport": str(url.scheme == "https").lower()}
    if call.service == "s3":
        return _s3_requests(call, action, context, parse_qs(url.query))
    params = _parameters(call, url.path)
    if action not in RESOURCE_ARNS:
        raise UnknownResource(
            f"the offline IAM does not know which resource {action} is authorized on; add it to RESOURCE_ARNS "
            "in recflow/offline/authorization.py from the service authorization reference"
        )
    arn_of = RESOURCE_ARNS[action]
    found = [Request(action, "*" if arn_of is None else arn_of(params, call.account, call.region), context)]
    if action in PASSED_ROLES and PASSED_ROLES[action][0] in params:
        parameter, service = PASSED_ROLES[action]
        found.append(Request("iam:PassRole", str(params[parameter]), {**context, "iam:PassedToService": service}))
    return found


def _s3_requests(call: HttpCall, action: str, context: dict[str, str], query: dict[str, list[str]]) -> list[Request]:
    resource = call.s3_resource or "*"
    if action == "s3:ListBucket":
        context = {**context, **{f"s3:{k}": query[k][0] for k in ("prefix", "delimiter") if k in query}}
    found = [Request(action, resource, context)]
    source = call.headers.get("x-amz-copy-source") or call.headers.get("X-Amz-Copy-Source")
    if action == "s3:PutObject" and source:  # CopyObject also reads its source
        found.insert(0, Request("s3:GetObject", f"arn:{PARTITION}:s3:::{unquote(source).lstrip('/')}", context))
    if action == "s3:PutObject" and any(h.lower() == "x-amz-tagging" for h in call.headers):  # tags on write
        found.append(Request("s3:PutObjectTagging", resource, context))
    return found


def _parameters(call: HttpCall, path: str) -> dict[str, Any]:
    if call.service == "lambda":  # REST: /2015-03-31/functions/<name or ARN>/invocations
        match = re.search(r"/functions/([^/]+)", path)
        return {"FunctionName": unquote(match.group(1))} if match else {}
    if call.body.strip().startswith(b"{"):
        loaded: dict[str, Any] = json.loads(call.body)
        return loaded
    return {key: value[0] if isinstance(value, list) else value for key, value in call.form.items()}


# --- policy evaluation -----------------------------------------------------------------------------


def _values(element: Any) -> list[Any]:
    return element if isinstance(element, list) else [element]


@functools.lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    text = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(text, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_matches(glob: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: * any run of characters, ? one character."""
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def _operator(name: str) -> tuple[str, bool]:
    """The operator without IfExists, and whether it had it. ForAnyValue/ForAllValues: single values only."""
    if name.startswith(("ForAnyValue:", "ForAllValues:")):
        name = name.split(":", 1)[1]
    return (name[: -len("IfExists")], True) if name.endswith("IfExists") else (name, False)


_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: glob_matches(want, got),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: glob_matches(want, got),
    "Bool": lambda want, got: want.lower() == got.lower(),
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals"}
_NEGATED |= {"ArnNotLike": "ArnLike", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase"}


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """IAM's rules: every operator and key must hold; a key the request lacks makes a positive operator
    false and a negated one true (…IfExists: true either way); Null tests presence."""
    lowered = {key.lower(): value for key, value in context.items()}
    for name, keys in condition.items():
        operator, if_exists = _operator(name)
        for key, wanted in keys.items():
            got = lowered.get(key.lower())
            wants = [str(value) for value in _values(wanted)]
            if operator == "Null":
                if (got is None) != (wants[0].lower() == "true"):
                    return False
                continue
            if got is None:
                if if_exists or operator in _NEGATED:
                    continue
                return False
            if operator in _NEGATED:
                if any(_COMPARE[_NEGATED[operator]](want, got) for want in wants):
                    return False
            elif operator in _COMPARE:
                if not any(_COMPARE[operator](want, got) for want in wants):
                    return False
            else:
                raise ValueError(f"the offline IAM does not evaluate the condition operator {name}")
    return True


def _statement_applies(statement: Mapping[str, Any], request: Request, principals: frozenset[str] | None) -> bool:
    if "Action" in statement:
        if not any(glob_matches(p, request.action, ignore_case=True) for p in _values(statement["Action"])):
            return False
    elif any(glob_matches(p, request.action, ignore_case=True) for p in _values(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(glob_matches(p, request.resource) for p in _values(statement["Resource"])):
            return False
    elif any(glob_matches(p, request.resource) for p in _values(statement.get("NotResource", []))):
        return False
    if principals is not None and not _principal_matches(statement.get("Principal"), principals):
        return False
    return conditions_hold(statement.get("Condition") or {}, request.context)


def _principal_matches(element: Any, principals: frozenset[str]) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    named = [str(v) for kind in ("AWS", "Service") for v in _values(element.get(kind, []))]
    return "*" in named or any(name in principals for name in named)


@dataclass(frozen=True)
class Verdict:
    denied_by: str | None  # the policy with an explicit Deny that applies
    allowed_by: tuple[str, ...]  # "policy#index" of the Allow statements that apply


def evaluate(policies: Iterable[Policy], request: Request, principals: frozenset[str] | None = None) -> Verdict:
    """What `policies` say about `request`; `principals` (the caller's ids) for resource-based policies."""
    denied: str | None = None
    allowed: list[str] = []
    for policy in policies:
        for index, statement in enumerate(policy.statements()):
            if _statement_applies(statement, request, principals):
                if statement.get("Effect") == "Deny":
                    denied = denied or policy.name
                else:
                    allowed.append(f"{policy.name}#{index}")
    return Verdict(denied, tuple(allowed))


# --- the run's authority: credentials issued, decisions made ------------------------------------------


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str | None]:
        """As the Lambda runtime gives them to a function."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


class Authority:
    """The run's IAM: issues each principal's credentials, authorizes and records every call."""

    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region
        self.calls: list[Call] = []
        self._principals: dict[str, Principal] = {}  # by access key id
        self._issued: dict[Principal, Credentials] = {}
        self._lock = threading.Lock()
        self._session = boto3.session.Session()
        self._clients: dict[tuple[str, Principal], Any] = {}

    # credentials

    def credentials(self, principal: Principal) -> Credentials:
        """Credentials for `principal`, assumed through moto's STS once per run. A role whose trust policy
        does not let the service assume it raises AccessDenied, as the service would fail to."""
        with self._lock:
            if principal in self._issued:
                return self._issued[principal]
        if principal.role_arn is None:
            key = f"SERVICE{len(self._issued):04d}{principal.service.split('.')[0].upper()}"
            issued = Credentials(key, "service", "service")
        else:
            self._check_trust(principal)
            issued = self._assume(principal)
        with self._lock:
            self._principals[issued.access_key_id] = principal
            self._issued[principal] = issued
        return issued

    def client(self, service: str, principal: Principal, **options: Any) -> Any:
        """A boto3 client that calls as `principal`, one per service and principal: made from one shared
        session, whose loaded service models make it cheap (a fresh session reads them all again)."""
        issued = self.credentials(principal)
        with self._lock:
            key = (service, principal)
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service,
                    region_name=options.pop("region_name", self.region),
                    aws_access_key_id=issued.access_key_id,
                    aws_secret_access_key=issued.secret_access_key,
                    aws_session_token=issued.session_token,
                    **options,
                )
            return self._clients[key]

    def principal_of(self, access_key_id: str) -> Principal | None:
        """Whom the key stands for: a principal this authority issued it to, or a role session moto's STS
        issued (the deployment runs the custom resource's function with its role that way)."""
        if access_key_id in self._principals:
            return self._principals[access_key_id]
        from moto.sts.models import sts_backends

        for assumed in sts_backends[self.account][PARTITION].assumed_roles:
            if assumed.access_key_id == access_key_id:
                principal = Principal("sts.amazonaws.com", assumed.role_arn, session=assumed.session_name)
                with self._lock:
                    self._principals[access_key_id] = principal
                    self._issued[principal] = Credentials(
                        assumed.access_key_id, assumed.secret_access_key, assumed.session_token
                    )
                return principal
        return None

    def _assume(self, principal: Principal) -> Credentials:
        from moto.sts.models import sts_backends

        assert principal.role_arn is not None
        assumed = sts_backends[self.account][PARTITION].assume_role(
            region_name=self.region,
            role_session_name=principal.session,
            role_arn=principal.role_arn,
            policy="",
            duration=3600,
            external_id="",
        )
        return Credentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)

    def _check_trust(self, principal: Principal) -> None:
        assert principal.role_arn is not None
        role = _iam_backend(self.account).get_role_by_arn(principal.role_arn)
        trust = Policy(f"trust/{role.name}", json.loads(role.assume_role_policy_document))
        request = Request("sts:AssumeRole", principal.role_arn, self._service_context(principal))
        verdict = evaluate([trust], request, frozenset({principal.service}))
        if verdict.denied_by or not verdict.allowed_by:
            self._record(Call(principal.service, request.action, request.resource, False))
            raise AccessDenied(
                principal.service, request.action, request.resource, "because the role's trust policy does not allow it"
            )

    def _service_context(self, principal: Principal) -> dict[str, str]:
        context = {"aws:SourceAccount": self.account}
        return {**context, "aws:SourceArn": principal.source_arn} if principal.source_arn else context

    # decisions

    def authorize(self, principal: Principal, requests: Iterable[Request]) -> None:
        """Raise AccessDenied at the first request IAM would refuse; record each decision."""
        for request in requests:
            verdict, because = self._decide(principal, request)
            self._record(Call(principal.name, request.action, request.resource, because is None, verdict.allowed_by))
            if because is not None:
                raise AccessDenied(principal.arn, request.action, request.resource, because)

    def _decide(self, principal: Principal, request: Request) -> tuple[Verdict, str | None]:
        resource_policies = self._resource_policies(request.resource)
        if principal.role_arn is None:  # a service on its own: only the resource's policy can allow it
            on_behalf = Request(
                request.action, request.resource, {**request.context, **self._service_context(principal)}
            )
            verdict = evaluate(resource_policies, on_behalf, frozenset({principal.service}))
            return verdict, _refusal(verdict, "no resource-based policy allows the service principal")
        identity = evaluate(self._role_policies(principal.role_arn), request)
        if principal.service == PERSONALIZE and request.action.startswith("s3:"):
            # Personalize reaches the bucket with the role passed to it; the bucket policy must also let
            # the service principal in, for this account (and job).
            on_behalf = Request(
                request.action, request.resource, {**request.context, **self._service_context(principal)}
            )
            bucket = evaluate(resource_policies, on_behalf, frozenset({principal.service}))
            merged = Verdict(identity.denied_by or bucket.denied_by, identity.allowed_by + bucket.allowed_by)
            if identity.denied_by or bucket.denied_by:
                return merged, f"with an explicit deny in {identity.denied_by or bucket.denied_by}"
            if not identity.allowed_by:
                return merged, f"because no identity-based policy allows the {request.action} action"
            if not bucket.allowed_by:
                return merged, f"because the bucket policy does not allow {PERSONALIZE} to {request.action}"
            return merged, None
        resource = evaluate(resource_policies, request, self._role_ids(principal))
        merged = Verdict(identity.denied_by or resource.denied_by, identity.allowed_by + resource.allowed_by)
        return merged, _refusal(merged, f"no identity-based policy allows the {request.action} action")

    def _on_behalf(self, principal: Principal, request: Request) -> Request:
        return Request(request.action, request.resource, {**request.context, **self._service_context(principal)})

    def _role_ids(self, principal: Principal) -> frozenset[str]:
        assert principal.role_arn is not None
        return frozenset({principal.role_arn, principal.arn, self.account, f"arn:{PARTITION}:iam::{self.account}:root"})

    def _role_policies(self, role_arn: str) -> list[Policy]:
        role = _iam_backend(self.account).get_role_by_arn(role_arn)
        found = [Policy(f"role/{role.name}/{name}", json.loads(text)) for name, text in role.policies.items()]
        for arn, managed in role.managed_policies.items():
            version = next(v for v in managed.versions if v.is_default)
            document = version.document
            found.append(Policy(f"role/{role.name}/{arn.rsplit('/', 1)[1]}", _document(document)))
        return found

    def _resource_policies(self, resource: str) -> list[Policy]:
        if resource.startswith(f"arn:{PARTITION}:s3:::"):
            from moto.s3.models import s3_backends

            bucket_name = resource.split(":::", 1)[1].split("/", 1)[0]
            bucket = s3_backends[self.account][PARTITION].buckets.get(bucket_name)
            if bucket is None or not bucket.policy:
                return []
            return [Policy(f"bucket/{bucket_name}", json.loads(bucket.policy))]
        if resource.startswith(f"arn:{PARTITION}:lambda:"):
            from moto.awslambda.utils import get_backend  # the simple (Docker-less) backend offline

            name = resource.split(":")[6]
            try:
                function = get_backend(self.account, self.region).get_function(name)
            except Exception:  # an unknown function: the service answers ResourceNotFound after this
                return []
            return [Policy(f"function/{name}", {"Statement": list(function.policy.statements)})]
        return []

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def policies_of(self, role_arn: str) -> list[Policy]:
        return self._role_policies(role_arn)

    def resource_policies(self, resource: str) -> list[Policy]:
        return self._resource_policies(resource)


def _refusal(verdict: Verdict, otherwise: str) -> str | None:
    if verdict.denied_by:
        return f"with an explicit deny in {verdict.denied_by}"
    return None if verdict.allowed_by else f"because {otherwise}"


def _document(document: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(document) if isinstance(document, str) else dict(document)
    return loaded


def _iam_backend(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][PARTITION]
