"""Amazon Personalize adapter: describe-or-create helpers for the jobs, the solution, the filter and the campaign.

Every call goes through ``_call``, the one place that turns botocore's ClientError into this package's
exceptions: ThrottlingException and LimitExceededException become PersonalizeThrottled, and a job
creation's or UpdateCampaign's ResourceInUseException (what it builds on is busy or not ACTIVE yet) becomes
PersonalizeResourceInUse; the state machine retries both with backoff on the Start* tasks and the
campaign's. Everything else becomes PersonalizeRequestFailed (or one of its ResourceNotFound /
ResourceAlreadyExists subclasses, which the helpers below handle).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from recflow_lambda.clients import personalize_client
from recflow_lambda.errors import (
    PersonalizeRequestFailed,
    PersonalizeResourceExists,
    PersonalizeResourceInUse,
    PersonalizeResourceNotFound,
    PersonalizeThrottled,
)
from recflow_lambda.naming import Phase

THROTTLING_CODES = frozenset({"ThrottlingException", "LimitExceededException"})
# Creations the state machine retries on ResourceInUseException. DeleteSolution's (versions still training)
# stays a request failure: the solution custom resource stops those versions itself.
# UpdateCampaign too: it is refused while the campaign's creation or an earlier update is in progress.
JOB_CREATIONS = frozenset(
    {"create_dataset_import_job", "create_solution_version", "create_batch_inference_job", "update_campaign"}
)
# How long the Start* tasks' Retry on PersonalizeResourceInUse waits at most in all (statemachine/pipeline.asl.json:
# 120 s doubling to a 1,800 s cap over 10 retries, full jitter): said in the message when retries run out.
IN_USE_RETRY_HOURS = 3.5
# Status of a job this module has just created (Create* returns only the ARN).
CREATED_STATUS = "CREATE PENDING"


@dataclass(frozen=True)
class JobSnapshot:
    """What the pipeline needs from a Describe* answer."""

    arn: str
    status: str
    failure_reason: str | None = None
    created_at: datetime | None = None


def _call(operation: str, **params: Any) -> dict[str, Any]:
    client = personalize_client()
    try:
        response: dict[str, Any] = getattr(client, operation)(**params)
        return response
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Unknown"), error.get("Message", "")
        api = client.meta.method_to_api_mapping.get(operation, operation)
        if code in THROTTLING_CODES:
            raise PersonalizeThrottled(
                f"Personalize {api} was refused with {code} ({message}); retry once running jobs finish."
            ) from exc
        if code == "ResourceInUseException" and operation in JOB_CREATIONS:
            raise PersonalizeResourceInUse(
                f"Personalize {api} was refused with {code} ({message}): a resource it needs is busy or not ACTIVE "
                f"yet, for example held by another job. The pipeline retries for up to {IN_USE_RETRY_HOURS:g} hours; "
                "if this is the last word, start the run again once the other job has finished."
            ) from exc
        exception = {
            "ResourceNotFoundException": PersonalizeResourceNotFound,
            "ResourceAlreadyExistsException": PersonalizeResourceExists,
        }.get(code, PersonalizeRequestFailed)
        raise exception(f"Personalize {api} failed with {code}: {message}") from exc


def _snapshot(description: dict[str, Any], arn_field: str) -> JobSnapshot:
    return JobSnapshot(
        arn=description[arn_field],
        status=description["status"],
        failure_reason=description.get("failureReason"),
        created_at=description.get("creationDateTime"),
    )


# --- dataset import job ------------------------------------------------------------------------------
def describe_dataset_import_job(arn: str) -> JobSnapshot:
    job = _call("describe_dataset_import_job", datasetImportJobArn=arn)["datasetImportJob"]
    return _snapshot(job, "datasetImportJobArn")


def find_dataset_import_job(arn: str) -> JobSnapshot | None:
    try:
        return describe_dataset_import_job(arn)
    except PersonalizeResourceNotFound:
        return None


def ensure_dataset_import_job(
    *, name: str, arn: str, dataset_arn: str, data_location: str, role_arn: str
) -> JobSnapshot:
    """Describe the FULL import job ``name`` (whose ARN is ``arn``), creating it when it does not exist."""
    return _describe_or_create(
        describe_dataset_import_job,
        arn,
        lambda: _call(
            "create_dataset_import_job",
            jobName=name,
            datasetArn=dataset_arn,
            dataSource={"dataLocation": data_location},
            roleArn=role_arn,
            importMode="FULL",
        )["datasetImportJobArn"],
    )


def _describe_or_create(describe: Callable[[str], JobSnapshot], arn: str, create: Callable[[], str]) -> JobSnapshot:
    """The job at ``arn``; when there is none, ``create()`` it (returning its ARN) under that deterministic name."""
    try:
        return describe(arn)
    except PersonalizeResourceNotFound:
        pass
    try:
        created_arn = create()
    except PersonalizeResourceExists:
        # A concurrent attempt created it between our describe and create.
        return describe(arn)
    return JobSnapshot(arn=created_arn, status=CREATED_STATUS)


# --- solution version (training) ---------------------------------------------------------------------
def describe_solution_version(arn: str) -> JobSnapshot:
    version = _call("describe_solution_version", solutionVersionArn=arn)["solutionVersion"]
    return _snapshot(version, "solutionVersionArn")


def find_solution_version(solution_arn: str, name: str, created_after: datetime | None = None) -> JobSnapshot | None:
    """The solution version called ``name``, or None.

    Solution version ARNs end in an id Personalize chooses, and ListSolutionVersions' summaries carry no
    name, so each candidate is described. ``created_after`` skips versions older than the run (its import
    job), which keeps this to one or two Describe calls however many versions the solution has.
    """
    token: str | None = None
    while True:
        paging = {"maxResults": 100} | ({"nextToken": token} if token else {})
        page = _call("list_solution_versions", solutionArn=solution_arn, **paging)
        for summary in page.get("solutionVersions", []):
            created = summary.get("creationDateTime")
            if created_after is not None and created is not None and created < created_after:
                continue
            version = _call("describe_solution_version", solutionVersionArn=summary["solutionVersionArn"])
            if version["solutionVersion"].get("name") == name:
                return _snapshot(version["solutionVersion"], "solutionVersionArn")
        token = page.get("nextToken")
        if not token:
            return None


def ensure_solution_version(*, name: str, solution_arn: str, created_after: datetime | None) -> JobSnapshot:
    """Find the FULL training called ``name`` of ``solution_arn``, creating it when there is none."""
    found = find_solution_version(solution_arn, name, created_after)
    if found is not None:
        return found
    try:
        created = _call("create_solution_version", name=name, solutionArn=solution_arn, trainingMode="FULL")
    except PersonalizeResourceExists:
        found = find_solution_version(solution_arn, name)
        if found is None:
            raise
        return found
    return JobSnapshot(arn=created["solutionVersionArn"], status=CREATED_STATUS)


def solution_metrics(solution_version_arn: str) -> dict[str, float]:
    return dict(_call("get_solution_metrics", solutionVersionArn=solution_version_arn).get("metrics", {}))


# --- batch inference job -----------------------------------------------------------------------------
def describe_batch_inference_job(arn: str) -> JobSnapshot:
    job = _call("describe_batch_inference_job", batchInferenceJobArn=arn)["batchInferenceJob"]
    return _snapshot(job, "batchInferenceJobArn")


def ensure_batch_inference_job(
    *,
    name: str,
    arn: str,
    solution_version_arn: str,
    num_results: int,
    input_path: str,
    output_path: str,
    role_arn: str,
    filter_arn: str | None = None,
) -> JobSnapshot:
    """Describe the batch inference job ``name`` (whose ARN is ``arn``), creating it when needed
    (with ``filter_arn`` applied to every line when given)."""
    filtered = {"filterArn": filter_arn} if filter_arn else {}
    return _describe_or_create(
        describe_batch_inference_job,
        arn,
        lambda: _call(
            "create_batch_inference_job",
            jobName=name,
            solutionVersionArn=solution_version_arn,
            numResults=num_results,
            jobInput={"s3DataSource": {"path": input_path}},
            jobOutput={"s3DataDestination": {"path": output_path}},
            roleArn=role_arn,
            **filtered,
        )["batchInferenceJobArn"],
    )


def describe_job(phase: Phase, arn: str) -> JobSnapshot:
    """Current state of the job of ``phase``."""
    describe = {
        "import": describe_dataset_import_job,
        "train": describe_solution_version,
        "batch": describe_batch_inference_job,
    }[phase]
    return describe(arn)


# --- solution ---------------------------------------------------------------------------------------
def find_solution(arn: str) -> dict[str, Any] | None:
    """The DescribeSolution ``solution`` object, or None when there is no such solution."""
    try:
        solution: dict[str, Any] = _call("describe_solution", solutionArn=arn)["solution"]
        return solution
    except PersonalizeResourceNotFound:
        return None


def create_solution(*, name: str, dataset_group_arn: str, recipe_arn: str) -> str:
    """Create a solution that never trains on its own; return its ARN.

    CreateSolution's performAutoTraining defaults to true (a new billed solution version every 7 days)
    and AWS::Personalize::Solution cannot turn it off: that is why the stack creates the solution here.
    """
    created = _call(
        "create_solution",
        name=name,
        datasetGroupArn=dataset_group_arn,
        recipeArn=recipe_arn,
        performAutoTraining=False,
    )
    return str(created["solutionArn"])


# Solution version statuses during which DeleteSolution is refused (ResourceInUseException).
UNFINISHED_VERSION_STATUSES = frozenset({"CREATE PENDING", "CREATE IN_PROGRESS", "CREATE STOPPING"})


def unfinished_solution_versions(solution_arn: str) -> dict[str, str]:
    """ARN → status of each version of the solution that is still training or stopping."""
    unfinished: dict[str, str] = {}
    token: str | None = None
    while True:
        paging = {"maxResults": 100} | ({"nextToken": token} if token else {})
        page = _call("list_solution_versions", solutionArn=solution_arn, **paging)
        for summary in page.get("solutionVersions", []):
            if summary.get("status") in UNFINISHED_VERSION_STATUSES:
                unfinished[summary["solutionVersionArn"]] = summary["status"]
        token = page.get("nextToken")
        if not token:
            return unfinished


def stop_solution_version(arn: str) -> None:
    _call("stop_solution_version_creation", solutionVersionArn=arn)


def delete_solution(arn: str) -> bool:
    """Delete the solution; return False when it did not exist."""
    try:
        _call("delete_solution", solutionArn=arn)
    except PersonalizeResourceNotFound:
        return False
    return True


# --- filter and campaign ------------------------------------------------------------------------------
def find_filter(arn: str) -> dict[str, Any] | None:
    """The DescribeFilter ``filter`` object, or None when there is no such filter."""
    try:
        found: dict[str, Any] = _call("describe_filter", filterArn=arn)["filter"]
        return found
    except PersonalizeResourceNotFound:
        return None


def create_filter(*, name: str, dataset_group_arn: str, expression: str) -> str:
    created = _call("create_filter", name=name, datasetGroupArn=dataset_group_arn, filterExpression=expression)
    return str(created["filterArn"])


def delete_filter(arn: str) -> bool:
    """Delete the filter; return False when it did not exist."""
    try:
        _call("delete_filter", filterArn=arn)
    except PersonalizeResourceNotFound:
        return False
    return True


def find_campaign(arn: str) -> dict[str, Any] | None:
    """The DescribeCampaign ``campaign`` object, or None when there is no such campaign."""
    try:
        found: dict[str, Any] = _call("describe_campaign", campaignArn=arn)["campaign"]
        return found
    except PersonalizeResourceNotFound:
        return None


def create_campaign(*, name: str, solution_version_arn: str, min_provisioned_tps: int) -> str:
    created = _call(
        "create_campaign", name=name, solutionVersionArn=solution_version_arn, minProvisionedTPS=min_provisioned_tps
    )
    return str(created["campaignArn"])


def update_campaign(arn: str, *, min_provisioned_tps: int, solution_version_arn: str | None = None) -> None:
    """Point the campaign at ``solution_version_arn`` (when given) with ``min_provisioned_tps``; refused with
    PersonalizeResourceInUse while its creation or an earlier update is in progress."""
    version = {"solutionVersionArn": solution_version_arn} if solution_version_arn else {}
    _call("update_campaign", campaignArn=arn, minProvisionedTPS=min_provisioned_tps, **version)


def delete_campaign(arn: str) -> bool:
    """Delete the campaign; return False when it did not exist."""
    try:
        _call("delete_campaign", campaignArn=arn)
    except PersonalizeResourceNotFound:
        return False
    return True
