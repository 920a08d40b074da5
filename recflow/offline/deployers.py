"""How each resource type of the translated template is created offline: one registry keyed by type.

moto's CloudFormation creates the types in MOTO_DEPLOYS with its own resource classes; the deployers
below create the others through the services' APIs (moto's, or the local Personalize behind it), the
way CloudFormation's resource handlers do, and answer what `!Ref` and `!GetAtt` return. A deployer
refuses properties it does not carry over rather than dropping them silently.

Updates and deletes (`update_stack`, `delete_stack`, a failed create's rollback) reach the same deployers
as a ResourceRequest of request_type Update or Delete. Updated offline: Lambda functions (configuration
and code) and the Personalize custom resources; any other type refuses an update, naming what changed.
Deleted offline: the Personalize resources and the custom resources (through their real handler). Others
stay in moto's account after their stack is gone: CloudFormation generates their names with a random
suffix, so a stack deployed again never meets them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import boto3

from recflow.offline import limits
from recflow.offline.clock import SimClock, WallClock
from recflow.offline.environ import environment
from recflow.offline.moto_extensions import Deployed, Deployer, ResourceRequest
from recflow.offline.template import TemplateError

if TYPE_CHECKING:
    from recflow_lambda.models import CustomResourceResponse

# Types moto's own CloudFormation models create with all the properties template.yaml gives them.
MOTO_DEPLOYS = frozenset({"AWS::Events::Rule", "AWS::SNS::Topic", "AWS::Logs::LogGroup", "AWS::SQS::Queue"})

# Types that need nothing offline: none today. A type listed here gets a physical id and nothing else.
NOTHING_OFFLINE: frozenset[str] = frozenset()

# How often a deployer looks at a Personalize resource it waits for (pipeline seconds).
POLL_SECONDS = 1.0
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")  # only ${Name}: the definition also holds JSONPath like $$.Execution.Name


class DeployError(TemplateError):
    """A resource of the stack could not be created; the message names it."""


Clock = SimClock | WallClock


def deployers(clock: Clock, failures: list[DeployError] | None = None) -> dict[str, Deployer]:
    """recflow's deployer for each type it creates itself (moto's CloudFormation calls them).

    Each failure is also appended to `failures`: behind a moto server it reaches the client as a bare 500.
    """
    failures = [] if failures is None else failures
    api = _Api()
    personalize = _Personalize(api, clock)
    own: dict[str, Deployer] = {
        "AWS::S3::Bucket": _lifecycle(partial(_bucket, api)),
        "AWS::S3::BucketPolicy": _lifecycle(partial(_bucket_policy, api)),
        "AWS::IAM::Role": _lifecycle(partial(_role, api)),
        "AWS::Lambda::Function": _lifecycle(partial(_function, api), update=partial(_update_function, api)),
        "AWS::Lambda::Permission": _lifecycle(partial(_permission, api)),
        "AWS::SNS::Subscription": _lifecycle(partial(_subscription, api)),
        "AWS::SQS::QueuePolicy": _lifecycle(partial(_queue_policy, api)),
        "AWS::Glue::Job": _lifecycle(partial(_glue_job, api)),
        "AWS::Glue::SecurityConfiguration": _lifecycle(partial(_glue_security_configuration, api)),
        "AWS::StepFunctions::StateMachine": _lifecycle(partial(_state_machine, api)),
        "AWS::Personalize::DatasetGroup": _lifecycle(personalize.dataset_group, delete=personalize.delete),
        "AWS::Personalize::Schema": _lifecycle(personalize.schema, delete=personalize.delete),
        "AWS::Personalize::Dataset": _lifecycle(personalize.dataset, delete=personalize.delete),
        # One function serves the three (functions/recflow_lambda/custom_resources.py), as on AWS.
        **dict.fromkeys(
            ("Custom::PersonalizeSolution", "Custom::PersonalizeFilter", "Custom::PersonalizeCampaign"),
            _PersonalizeCustomResource(api, clock).handle,
        ),
    }
    nothing = {kind: _lifecycle(_nothing) for kind in NOTHING_OFFLINE}
    return {kind: _naming_failures(deploy, failures) for kind, deploy in {**own, **nothing}.items()}


def deployed_types() -> frozenset[str]:
    """Every type the offline stack can hold: moto's, recflow's and those needing nothing offline."""
    return MOTO_DEPLOYS | NOTHING_OFFLINE | frozenset(deployers(WallClock()))


def _naming_failures(deploy: Deployer, failures: list[DeployError]) -> Deployer:
    def deploy_or_say_which(request: ResourceRequest) -> Deployed:
        try:
            return deploy(request)
        except DeployError as failure:
            failures.append(failure)
            raise
        except Exception as exc:
            verb = {"Create": "created", "Update": "updated", "Delete": "deleted"}[request.request_type]
            named = DeployError(f"{request.logical_id} ({request.resource_type}) could not be {verb} offline: {exc}")
            failures.append(named)
            raise named from exc

    return deploy_or_say_which


def _lifecycle(create: Deployer, update: Deployer | None = None, delete: Deployer | None = None) -> Deployer:
    """One deployer for the three request types: without `update` an Update is refused, naming the changed
    properties; without `delete` a Delete leaves the resource in moto (see the module docstring)."""

    def handle(request: ResourceRequest) -> Deployed:
        if request.request_type == "Create":
            return create(request)
        if request.request_type == "Update":
            if update is None:
                changed = _changed(request)
                raise DeployError(
                    f"{request.logical_id} ({request.resource_type}) cannot be updated offline "
                    f"(changed: {', '.join(changed) or 'nothing'}); delete the stack and deploy it again."
                )
            return update(request)
        return delete(request) if delete is not None else Deployed(str(request.physical_id))

    return handle


def _changed(request: ResourceRequest) -> list[str]:
    old = request.old_properties or {}
    return sorted(key for key in set(request.properties) | set(old) if request.properties.get(key) != old.get(key))


class _Api:
    """The deployment's boto3 clients, one per service and region (made lazily, used by one deployment:
    a client keeps the endpoint and credentials it was made with)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, request: ResourceRequest) -> Any:
        key = (service, request.region)
        with self._lock:
            if key not in self._clients:
                # Under the lock: making clients from boto3's default session is not thread-safe.
                self._clients[key] = boto3.client(service, region_name=request.region)
            return self._clients[key]


def _only(request: ResourceRequest, known: Iterable[str]) -> dict[str, Any]:
    unknown = sorted(set(request.properties) - set(known))
    if unknown:
        raise DeployError(
            f"{request.logical_id} ({request.resource_type}) has properties the offline deployment does not "
            f"carry over: {', '.join(unknown)}"
        )
    return request.properties


def _tags(properties: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: str(tag["Value"]) for tag in properties.get("Tags", [])}


def _nothing(request: ResourceRequest) -> Deployed:
    return Deployed(request.generated_name)


# --- S3 ----------------------------------------------------------------------------------------


def _bucket(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(
        request,
        (
            "BucketName",
            "BucketEncryption",
            "VersioningConfiguration",
            "PublicAccessBlockConfiguration",
            "OwnershipControls",
            "NotificationConfiguration",
            "LifecycleConfiguration",
            "LoggingConfiguration",
            "Tags",
        ),
    )
    s3 = api("s3", request)
    name = props.get("BucketName", request.generated_name)
    s3.create_bucket(Bucket=name, **_location(request.region))
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
        )
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "NotificationConfiguration" in props:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration=_notification_configuration(props["NotificationConfiguration"])
        )
    if "LifecycleConfiguration" in props:
        rules = [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    if "LoggingConfiguration" in props:
        logging_config = props["LoggingConfiguration"]
        target = {"TargetBucket": logging_config["DestinationBucketName"]}
        target["TargetPrefix"] = logging_config.get("LogFilePrefix", "")
        s3.put_bucket_logging(Bucket=name, BucketLoggingStatus={"LoggingEnabled": target})
    if "Tags" in props:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": props["Tags"]})
    return Deployed(
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{request.region}.amazonaws.com",
        },
    )


def _location(region: str) -> dict[str, Any]:
    return {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}


def _notification_configuration(cfn: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(cfn) - {"EventBridgeConfiguration"})
    if unknown:
        raise DeployError(f"bucket notifications other than EventBridge are not deployed offline: {', '.join(unknown)}")
    enabled = cfn["EventBridgeConfiguration"].get("EventBridgeEnabled") in (True, "true")
    return {"EventBridgeConfiguration": {}} if enabled else {}


_LIFECYCLE_SETTINGS = frozenset(
    {
        "Id",
        "Status",
        "Prefix",
        "TagFilters",
        "NoncurrentVersionExpiration",
        "ExpirationInDays",
        "AbortIncompleteMultipartUpload",
    }
)


def _lifecycle_rule(cfn: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as PutBucketLifecycleConfiguration takes it (days are Numbers: ints)."""
    unknown = sorted(set(cfn) - _LIFECYCLE_SETTINGS)
    if unknown:
        raise DeployError(f"lifecycle rule {cfn['Id']} has settings not deployed offline: {', '.join(unknown)}")
    rule: dict[str, Any] = {"ID": cfn["Id"], "Status": cfn["Status"], "Filter": _lifecycle_filter(cfn)}
    if "NoncurrentVersionExpiration" in cfn:
        days = int(cfn["NoncurrentVersionExpiration"]["NoncurrentDays"])
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    if "ExpirationInDays" in cfn:
        rule["Expiration"] = {"Days": int(cfn["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in cfn:
        days = int(cfn["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return rule


def _lifecycle_filter(cfn: dict[str, Any]) -> dict[str, Any]:
    """Prefix alone, or prefix and tags together (S3's And filter), as CloudFormation combines them."""
    tags = [{"Key": tag["Key"], "Value": str(tag["Value"])} for tag in cfn.get("TagFilters", [])]
    if not tags:
        return {"Prefix": cfn.get("Prefix", "")}
    return {"And": {"Prefix": cfn.get("Prefix", ""), "Tags": tags}}


def _bucket_policy(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(request, ("Bucket", "PolicyDocument"))
    api("s3", request).put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
    return Deployed(props["Bucket"])


# --- IAM -----------------------------------------------------------------------------------------


def _role(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(
        request,
        (
            "RoleName",
            "AssumeRolePolicyDocument",
            "Policies",
            "ManagedPolicyArns",
            "Path",
            "Description",
            "MaxSessionDuration",
            "PermissionsBoundary",
            "Tags",
        ),
    )
    iam = api("iam", request)
    name = props.get("RoleName", request.generated_name[:64])
    optional = {
        key: props[key] for key in ("Path", "Description", "MaxSessionDuration", "PermissionsBoundary") if key in props
    }
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        Tags=props.get("Tags", []),
        **optional,
    )["Role"]
    for policy in props.get("Policies", []):
        iam.put_role_policy(
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(_versioned(policy["PolicyDocument"])),
        )
    for arn in props.get("ManagedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return Deployed(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _versioned(document: dict[str, Any]) -> dict[str, Any]:
    """IAM reads a document without Version as 2008-10-17; moto refuses it. SAM's policy templates omit the
    Version and use no policy variables (the one difference), so 2012-10-17 grants exactly the same."""
    return document if "Version" in document else {"Version": "2012-10-17", **document}


# --- Lambda --------------------------------------------------------------------------------------


_FUNCTION_PROPERTIES = (
    "FunctionName",
    "Code",
    "Handler",
    "Role",
    "Runtime",
    "MemorySize",
    "Timeout",
    "Environment",
    "Tags",
    "TracingConfig",
    "Architectures",
    "Description",
    "DeadLetterConfig",
    "ReservedConcurrentExecutions",
    "LoggingConfig",
)
# What UpdateFunctionConfiguration (UpdateFunctionCode for Code, PutFunctionConcurrency for
# ReservedConcurrentExecutions) change in place.
_FUNCTION_UPDATABLE = frozenset(
    {
        "Code",
        "Handler",
        "Role",
        "Runtime",
        "MemorySize",
        "Timeout",
        "Environment",
        "TracingConfig",
        "Description",
        "DeadLetterConfig",
        "ReservedConcurrentExecutions",
        "LoggingConfig",
    }
)


def _function(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(request, _FUNCTION_PROPERTIES)
    name = props.get("FunctionName", request.generated_name[:64])
    optional = _function_configuration(props)
    optional.update({key: props[key] for key in ("Architectures",) if key in props})
    function = api("lambda", request).create_function(
        FunctionName=name, Code=props["Code"], Tags=_tags(props), **optional
    )
    _reserve_concurrency(api, request, name, props)
    return Deployed(name, {"Arn": function["FunctionArn"]})


def _reserve_concurrency(api: _Api, request: ResourceRequest, name: str, props: dict[str, Any]) -> None:
    if "ReservedConcurrentExecutions" in props:
        reserved = int(props["ReservedConcurrentExecutions"])
        api("lambda", request).put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)


def _update_function(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(request, _FUNCTION_PROPERTIES)
    unsupported = sorted(set(_changed(request)) - _FUNCTION_UPDATABLE)
    if unsupported:
        raise DeployError(
            f"{request.logical_id} (AWS::Lambda::Function) cannot be updated offline (changed: "
            f"{', '.join(unsupported)}); delete the stack and deploy it again."
        )
    lam, name = api("lambda", request), str(request.physical_id)
    function = lam.update_function_configuration(FunctionName=name, **_function_configuration(props))
    _reserve_concurrency(api, request, name, props)
    if "Code" in _changed(request):
        code = props["Code"]
        lam.update_function_code(FunctionName=name, S3Bucket=code["S3Bucket"], S3Key=code["S3Key"])
    return Deployed(name, {"Arn": function["FunctionArn"]})


def _function_configuration(props: dict[str, Any]) -> dict[str, Any]:
    """The function's settings as CreateFunction and UpdateFunctionConfiguration take them."""
    keys = (
        "Handler",
        "Role",
        "Runtime",
        "MemorySize",
        "Timeout",
        "TracingConfig",
        "Description",
        "DeadLetterConfig",
        "LoggingConfig",
    )
    configuration: dict[str, Any] = {key: props[key] for key in keys if key in props}
    if "Environment" in props:  # Lambda takes strings; moto's CloudFormation resolves Number parameters to ints
        variables = props["Environment"].get("Variables", {})
        configuration["Environment"] = {"Variables": {key: str(value) for key, value in variables.items()}}
    return configuration


def _permission(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(request, ("Action", "FunctionName", "Principal", "SourceArn", "SourceAccount"))
    statement_id = request.generated_name[:100]
    api("lambda", request).add_permission(StatementId=statement_id, **props)
    return Deployed(statement_id)


# --- SNS, Glue ------------------------------------------------------------------------------------


def _subscription(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(request, ("TopicArn", "Protocol", "Endpoint"))
    reply = api("sns", request).subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"], ReturnSubscriptionArn=True
    )
    return Deployed(reply["SubscriptionArn"])


def _queue_policy(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(request, ("Queues", "PolicyDocument"))
    for queue_url in props["Queues"]:
        api("sqs", request).set_queue_attributes(
            QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
        )
    return Deployed(request.generated_name)


def _glue_job(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(
        request,
        (
            "Name",
            "Description",
            "Role",
            "GlueVersion",
            "WorkerType",
            "NumberOfWorkers",
            "Timeout",
            "ExecutionProperty",
            "Command",
            "DefaultArguments",
            "MaxRetries",
            "SecurityConfiguration",
            "Tags",
        ),
    )
    name = props.get("Name", request.generated_name)
    job = {key: value for key, value in props.items() if key not in ("Name", "Timeout", "NumberOfWorkers")}
    job["DefaultArguments"] = {key: str(value) for key, value in props.get("DefaultArguments", {}).items()}
    for number in ("Timeout", "NumberOfWorkers"):
        if number in props:
            job[number] = int(props[number])
    api("glue", request).create_job(Name=name, **job)
    return Deployed(name)


def _glue_security_configuration(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(request, ("Name", "EncryptionConfiguration"))
    # CloudFormation's S3Encryptions is the API's S3Encryption (a list in both); the other members match.
    encryption = {
        ("S3Encryption" if key == "S3Encryptions" else key): value
        for key, value in props["EncryptionConfiguration"].items()
    }
    api("glue", request).create_security_configuration(Name=props["Name"], EncryptionConfiguration=encryption)
    return Deployed(props["Name"])  # Ref is the name, which the job's SecurityConfiguration takes


# --- Step Functions --------------------------------------------------------------------------------


def _state_machine(api: _Api, request: ResourceRequest) -> Deployed:
    props = _only(
        request,
        (
            "StateMachineName",
            "StateMachineType",
            "RoleArn",
            "DefinitionS3Location",
            "DefinitionString",
            "DefinitionSubstitutions",
            "LoggingConfiguration",
            "TracingConfiguration",
            "Tags",
        ),
    )
    name = props.get("StateMachineName", request.generated_name[:80])
    definition = _definition(api, request, props)
    options: dict[str, Any] = {"type": props.get("StateMachineType", "STANDARD")}
    if "LoggingConfiguration" in props:
        logging = props["LoggingConfiguration"]
        options["loggingConfiguration"] = {
            "level": logging.get("Level", "OFF"),
            "includeExecutionData": logging.get("IncludeExecutionData", False),
            "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
                for d in logging.get("Destinations", [])
            ],
        }
    if "TracingConfiguration" in props:
        options["tracingConfiguration"] = {"enabled": props["TracingConfiguration"].get("Enabled") in (True, "true")}
    tags = [{"key": key, "value": value} for key, value in _tags(props).items()]
    arn = api("stepfunctions", request).create_state_machine(
        name=name, definition=definition, roleArn=props["RoleArn"], tags=tags, **options
    )["stateMachineArn"]
    return Deployed(arn, {"Arn": arn, "Name": name})


def _definition(api: _Api, request: ResourceRequest, props: dict[str, Any]) -> str:
    if "DefinitionS3Location" in props:
        location = props["DefinitionS3Location"]
        extra = {"VersionId": location["Version"]} if "Version" in location else {}
        body = api("s3", request).get_object(Bucket=location["Bucket"], Key=location["Key"], **extra)["Body"]
        text: str = body.read().decode()
    else:
        text = props["DefinitionString"]
    substitutions = {key: str(value) for key, value in props.get("DefinitionSubstitutions", {}).items()}
    missing = sorted(set(PLACEHOLDER.findall(text)) - set(substitutions))
    if missing:
        raise DeployError(
            f"the definition of {request.logical_id} uses ${{{missing[0]}}} with no DefinitionSubstitution"
        )
    filled = PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], text)
    json.loads(filled)  # a substitution that breaks the JSON fails here, not when the machine runs
    return filled


# --- Personalize ------------------------------------------------------------------------------------


class _Personalize:
    """AWS::Personalize::* as CloudFormation creates them: each waits until ACTIVE, Ref is the ARN."""

    def __init__(self, api: _Api, clock: Clock) -> None:
        self.api = api
        self.clock = clock

    def dataset_group(self, request: ResourceRequest) -> Deployed:
        props = _only(request, ("Name", "Domain", "KmsKeyArn", "RoleArn"))
        args = _lower_first(props)
        personalize = self.api("personalize", request)
        arn = personalize.create_dataset_group(**args)["datasetGroupArn"]
        self._wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"], arn)
        return Deployed(arn, {"DatasetGroupArn": arn})

    def schema(self, request: ResourceRequest) -> Deployed:
        props = _only(request, ("Name", "Schema", "Domain"))
        arn = self.api("personalize", request).create_schema(**_lower_first(props))["schemaArn"]
        return Deployed(arn, {"SchemaArn": arn})

    def dataset(self, request: ResourceRequest) -> Deployed:
        props = _only(request, ("Name", "DatasetType", "DatasetGroupArn", "SchemaArn"))
        personalize = self.api("personalize", request)
        arn = personalize.create_dataset(**_lower_first(props))["datasetArn"]
        self._wait_active(lambda: personalize.describe_dataset(datasetArn=arn)["dataset"], arn)
        return Deployed(arn, {"DatasetArn": arn})

    def delete(self, request: ResourceRequest) -> Deployed:
        """Delete a dataset group, dataset or schema; one that is already gone counts as deleted. While
        another resource still uses it Personalize refuses, and moto tries again after the others."""
        kind = request.resource_type.removeprefix("AWS::Personalize::")
        operation = {"DatasetGroup": "delete_dataset_group", "Dataset": "delete_dataset", "Schema": "delete_schema"}
        argument = kind[0].lower() + kind[1:] + "Arn"
        personalize = self.api("personalize", request)
        with contextlib.suppress(personalize.exceptions.ResourceNotFoundException):
            getattr(personalize, operation[kind])(**{argument: request.physical_id})
        return Deployed(str(request.physical_id))

    def _wait_active(self, describe: Callable[[], dict[str, Any]], arn: str) -> None:
        while (status := describe()["status"]) != "ACTIVE":
            if status not in ("CREATE PENDING", "CREATE IN_PROGRESS"):
                raise DeployError(f"{arn} is {status} instead of becoming ACTIVE")
            self.clock.advance(POLL_SECONDS)


def _lower_first(props: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's PascalCase property names as the Personalize API's camelCase parameters."""
    return {key[0].lower() + key[1:]: value for key, value in props.items()}


class _PersonalizeCustomResource:
    """Custom::PersonalizeSolution, ::PersonalizeFilter and ::PersonalizeCampaign: what CloudFormation asks of
    their function, without the HTTP answer.

    CloudFormation would invoke the ServiceToken function and wait for a PUT to a presigned URL; offline
    the deployer runs the same request handling (`answer_request`) in the function's environment and
    reads its answer directly. Like CloudFormation it sends OldResourceProperties with an Update, Deletes
    the old physical resource after an Update that replaced it, and Deletes what a failed Create reported
    (the first step of the stack's rollback: nothing created after it depends on it).

    Each request is an invocation of the function, measured against its MemorySize and Timeout like every
    other (recflow/offline/limits.py): over either, Lambda stops the function before it answers, so
    CloudFormation hears nothing, fails the resource after its ServiceTimeout and rolls the stack back.
    """

    def __init__(self, api: _Api, clock: Clock) -> None:
        self.api = api
        self.clock = clock

    def handle(self, request: ResourceRequest) -> Deployed:
        answer = self.send(request)
        name = f"{request.logical_id} ({request.resource_type})"
        if answer.Status != "SUCCESS":
            if request.request_type != "Create":
                raise DeployError(f"{name} failed to {request.request_type.lower()}: {answer.Reason}")
            rollback = self.send(replace(request, request_type="Delete", physical_id=answer.PhysicalResourceId))
            raise DeployError(
                f"{name} failed: {answer.Reason} The rollback's Delete answered {rollback.Status}: {rollback.Reason}"
            )
        if request.request_type == "Update" and answer.PhysicalResourceId != request.physical_id:
            cleanup = self.send(replace(request, request_type="Delete", properties=request.old_properties or {}))
            if cleanup.Status != "SUCCESS":  # CloudFormation completes the update and leaves the old resource
                logging.getLogger(__name__).warning("%s kept %s: %s", name, request.physical_id, cleanup.Reason)
        return Deployed(answer.PhysicalResourceId, dict(answer.Data))

    def send(self, request: ResourceRequest) -> CustomResourceResponse:
        """The event CloudFormation sends the function for `request`, and the function's answer."""
        from recflow_lambda.clients import clear_clients
        from recflow_lambda.custom_resources import answer_request
        from recflow_lambda.models import CustomResourceAddress

        token = request.properties.get("ServiceToken") or (request.old_properties or {})["ServiceToken"]
        function = self.api("lambda", request).get_function_configuration(FunctionName=token)
        event: dict[str, Any] = {
            "RequestType": request.request_type,
            "ServiceToken": token,
            "ResponseURL": "https://cloudformation-custom-resource-response.invalid/offline",  # read directly
            "StackId": request.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": request.logical_id,
            "ResourceType": request.resource_type,
            "ResourceProperties": request.properties,
        }
        if request.physical_id is not None:
            event["PhysicalResourceId"] = request.physical_id
        if request.request_type == "Update":
            event["OldResourceProperties"] = request.old_properties or {}
        deadline = self.clock.now() + int(function["Timeout"])
        limits.runtime_baseline_mb()  # measured once, in a child process: not part of the invocation
        with environment({**function.get("Environment", {}).get("Variables", {}), **self._role(request, function)}):
            clear_clients()  # the handler's clients take the function's credentials, and keep them
            try:
                with limits.measured_invocation() as meter:
                    answer = answer_request(
                        event,
                        CustomResourceAddress.model_validate(event),
                        lambda: int((deadline - self.clock.now()) * 1000),
                        # Poll as often as the other Personalize deployers: `local serve` waits in real seconds.
                        lambda seconds: self.clock.advance(min(seconds, POLL_SECONDS)),
                    )
            finally:
                clear_clients()
        invocation = limits.measure(
            str(function["FunctionName"]), int(function["MemorySize"]), int(function["Timeout"]), meter
        )
        error = invocation.limit_error()
        return answer if error is None else self._no_answer(request, event, error)

    @staticmethod
    def _no_answer(request: ResourceRequest, event: dict[str, Any], error: dict[str, str]) -> CustomResourceResponse:
        """What the stack makes of a function Lambda stopped before it answered: the resource fails once its
        ServiceTimeout is over (offline at once: nothing could answer later)."""
        from recflow_lambda.models import CustomResourceResponse

        service_timeout = int(request.properties.get("ServiceTimeout") or 3600)  # CloudFormation's default: 1 hour
        return CustomResourceResponse(
            Status="FAILED",
            Reason=(
                f"CloudFormation did not receive a response from your Custom Resource within its ServiceTimeout "
                f"of {service_timeout} seconds: the function failed with {error['errorType']} "
                f"({error['errorMessage']})."
            ),
            # CloudFormation never heard a physical id: a rollback's Delete finds nothing named by this one.
            PhysicalResourceId=request.physical_id or f"{request.logical_id}-no-answer",
            StackId=request.stack_id,
            RequestId=str(event["RequestId"]),
            LogicalResourceId=request.logical_id,
        )

    def _role(self, request: ResourceRequest, function: dict[str, Any]) -> dict[str, str | None]:
        """The credentials Lambda gives the function: its role's, assumed through STS (authorized offline)."""
        assumed = self.api("sts", request).assume_role(
            RoleArn=function["Role"], RoleSessionName=function["FunctionName"][:64]
        )["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
            "AWS_SESSION_TOKEN": assumed["SessionToken"],
        }
