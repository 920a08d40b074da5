"""The local Personalize API: parses and validates JSON requests, calls the backend, renders answers.

`PersonalizeResponses(backend).handle(action, request)` takes and returns the operation's JSON bodies,
so moto can serve it to plain boto3 (recflow/offline/moto_extensions.py registers it). Requests are
checked against botocore's Personalize model first (validation.py); errors are PersonalizeError
(errors.py), which the moto registration answers as JSON errors with the AWS error code.
"""

import functools
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Protocol

import botocore.session
from botocore import xform_name
from botocore.model import ServiceModel

from recflow.personalize_local.backend import PersonalizeBackend
from recflow.personalize_local.errors import PersonalizeError
from recflow.personalize_local.resources import SolutionOptions, compact
from recflow.personalize_local.validation import validate_request

DEFAULT_NUM_RESULTS = 25
DEFAULT_MAX_RESULTS = 100

Request = dict[str, Any]
Body = dict[str, Any]


@functools.cache
def service_model() -> ServiceModel:
    """botocore's Personalize model, read from disk once."""
    return botocore.session.get_session().get_service_model("personalize")


def unknown_operation(action: str) -> PersonalizeError:
    return PersonalizeError("UnknownOperationException", f"The local Personalize service does not implement {action}.")


class _Listed(Protocol):
    def summary(self, now: float) -> Body: ...


class _Described(Protocol):
    def to_dict(self, now: float) -> Body: ...


class PersonalizeResponses:
    """One method per implemented action, named like boto3's (`create_dataset_group`)."""

    ACTIONS: ClassVar[tuple[str, ...]] = (
        "CreateDatasetGroup",
        "DescribeDatasetGroup",
        "ListDatasetGroups",
        "DeleteDatasetGroup",
        "CreateDataset",
        "DescribeDataset",
        "ListDatasets",
        "DeleteDataset",
        "CreateSolution",
        "DescribeSolution",
        "ListSolutions",
        "DeleteSolution",
        "CreateDatasetImportJob",
        "DescribeDatasetImportJob",
        "ListDatasetImportJobs",
        "CreateSolutionVersion",
        "DescribeSolutionVersion",
        "ListSolutionVersions",
        "StopSolutionVersionCreation",
        "GetSolutionMetrics",
        "CreateBatchInferenceJob",
        "DescribeBatchInferenceJob",
        "ListBatchInferenceJobs",
        "CreateFilter",
        "DescribeFilter",
        "ListFilters",
        "DeleteFilter",
        "CreateCampaign",
        "DescribeCampaign",
        "UpdateCampaign",
        "ListCampaigns",
        "DeleteCampaign",
    )

    def __init__(self, backend: PersonalizeBackend) -> None:
        self.backend = backend

    def handle(self, action: str, request: Request) -> Body:
        """Answer one API call; UnknownOperationException for an action the local service lacks."""
        if action not in self.ACTIONS:
            raise unknown_operation(action)
        validate_request(service_model().operation_model(action), request)
        respond: Callable[[Request], Body] = getattr(self, xform_name(action))
        with self.backend.lock:
            return respond(request)

    def _described(self, key: str, resource: _Described) -> Body:
        return {key: resource.to_dict(self.backend.now())}

    def _listed(self, request: Request, key: str, resources: Iterable[_Listed]) -> Body:
        now = self.backend.now()
        return _page(request, key, [resource.summary(now) for resource in resources])

    # ---------------------------------------------------------------------------- dataset groups

    def create_dataset_group(self, request: Request) -> Body:
        group = self.backend.create_dataset_group(
            request["name"], request.get("roleArn"), request.get("kmsKeyArn"), request.get("domain")
        )
        return compact({"datasetGroupArn": group.arn, "domain": group.domain})

    def describe_dataset_group(self, request: Request) -> Body:
        return self._described("datasetGroup", self.backend.describe_dataset_group(request["datasetGroupArn"]))

    def list_dataset_groups(self, request: Request) -> Body:
        return self._listed(request, "datasetGroups", self.backend.list_dataset_groups())

    def delete_dataset_group(self, request: Request) -> Body:
        self.backend.delete_dataset_group(request["datasetGroupArn"])
        return {}

    # ---------------------------------------------------------------------------------- datasets

    def create_dataset(self, request: Request) -> Body:
        dataset = self.backend.create_dataset(
            request["name"], request["datasetGroupArn"], request["datasetType"], request["schemaArn"]
        )
        return {"datasetArn": dataset.arn}

    def describe_dataset(self, request: Request) -> Body:
        return self._described("dataset", self.backend.describe_dataset(request["datasetArn"]))

    def list_datasets(self, request: Request) -> Body:
        return self._listed(request, "datasets", self.backend.list_datasets(request.get("datasetGroupArn")))

    def delete_dataset(self, request: Request) -> Body:
        self.backend.delete_dataset(request["datasetArn"])
        return {}

    # --------------------------------------------------------------------------------- solutions

    def create_solution(self, request: Request) -> Body:
        solution = self.backend.create_solution(
            name=request["name"],
            dataset_group_arn=request["datasetGroupArn"],
            recipe_arn=request.get("recipeArn"),
            perform_auto_ml=request.get("performAutoML", False),
            options=SolutionOptions(
                perform_hpo=request.get("performHPO", False),
                perform_auto_training=request.get("performAutoTraining", True),
                perform_incremental_update=request.get("performIncrementalUpdate"),
                event_type=request.get("eventType"),
                solution_config=request.get("solutionConfig"),
            ),
        )
        return {"solutionArn": solution.arn}

    def describe_solution(self, request: Request) -> Body:
        solution = self.backend.describe_solution(request["solutionArn"])
        latest = self.backend.latest_solution_version(solution.arn)
        return {"solution": solution.to_dict(self.backend.now(), latest)}

    def list_solutions(self, request: Request) -> Body:
        return self._listed(request, "solutions", self.backend.list_solutions(request.get("datasetGroupArn")))

    def delete_solution(self, request: Request) -> Body:
        self.backend.delete_solution(request["solutionArn"])
        return {}

    # ----------------------------------------------------------------------- dataset import jobs

    def create_dataset_import_job(self, request: Request) -> Body:
        job = self.backend.create_dataset_import_job(
            request["jobName"],
            request["datasetArn"],
            request["dataSource"].get("dataLocation"),
            import_mode=request.get("importMode", "FULL"),
            role_arn=request.get("roleArn"),
            publish_attribution_metrics=request.get("publishAttributionMetricsToS3"),
        )
        return {"datasetImportJobArn": job.arn}

    def describe_dataset_import_job(self, request: Request) -> Body:
        return self._described(
            "datasetImportJob", self.backend.describe_dataset_import_job(request["datasetImportJobArn"])
        )

    def list_dataset_import_jobs(self, request: Request) -> Body:
        return self._listed(
            request, "datasetImportJobs", self.backend.list_dataset_import_jobs(request.get("datasetArn"))
        )

    # ------------------------------------------------------------------------- solution versions

    def create_solution_version(self, request: Request) -> Body:
        version = self.backend.create_solution_version(
            request["solutionArn"], request.get("name"), request.get("trainingMode", "FULL")
        )
        return {"solutionVersionArn": version.arn}

    def describe_solution_version(self, request: Request) -> Body:
        return self._described("solutionVersion", self.backend.describe_solution_version(request["solutionVersionArn"]))

    def list_solution_versions(self, request: Request) -> Body:
        return self._listed(
            request, "solutionVersions", self.backend.list_solution_versions(request.get("solutionArn"))
        )

    def stop_solution_version_creation(self, request: Request) -> Body:
        self.backend.stop_solution_version_creation(request["solutionVersionArn"])
        return {}

    def get_solution_metrics(self, request: Request) -> Body:
        arn = request["solutionVersionArn"]
        return {"solutionVersionArn": arn, "metrics": self.backend.get_solution_metrics(arn)}

    # ---------------------------------------------------------------------- batch inference jobs

    def create_batch_inference_job(self, request: Request) -> Body:
        job = self.backend.create_batch_inference_job(
            job_name=request["jobName"],
            solution_version_arn=request["solutionVersionArn"],
            input_path=request["jobInput"]["s3DataSource"]["path"],
            output_path=request["jobOutput"]["s3DataDestination"]["path"],
            role_arn=request["roleArn"],
            num_results=request.get("numResults", DEFAULT_NUM_RESULTS),
            filter_arn=request.get("filterArn"),
            mode=request.get("batchInferenceJobMode", "BATCH_INFERENCE"),
            job_config=request.get("batchInferenceJobConfig"),
        )
        return {"batchInferenceJobArn": job.arn}

    def describe_batch_inference_job(self, request: Request) -> Body:
        return self._described(
            "batchInferenceJob", self.backend.describe_batch_inference_job(request["batchInferenceJobArn"])
        )

    def list_batch_inference_jobs(self, request: Request) -> Body:
        return self._listed(
            request, "batchInferenceJobs", self.backend.list_batch_inference_jobs(request.get("solutionVersionArn"))
        )

    # ----------------------------------------------------------------------------------- filters

    def create_filter(self, request: Request) -> Body:
        item_filter = self.backend.create_filter(
            request["name"], request["datasetGroupArn"], request["filterExpression"]
        )
        return {"filterArn": item_filter.arn}

    def describe_filter(self, request: Request) -> Body:
        return self._described("filter", self.backend.describe_filter(request["filterArn"]))

    def list_filters(self, request: Request) -> Body:
        return self._listed(request, "Filters", self.backend.list_filters(request.get("datasetGroupArn")))

    def delete_filter(self, request: Request) -> Body:
        self.backend.delete_filter(request["filterArn"])
        return {}

    # ---------------------------------------------------------------------------------- campaigns

    def create_campaign(self, request: Request) -> Body:
        campaign = self.backend.campaigns.create(
            request["name"],
            request["solutionVersionArn"],
            request.get("minProvisionedTPS"),
            request.get("campaignConfig"),
        )
        return {"campaignArn": campaign.arn}

    def describe_campaign(self, request: Request) -> Body:
        return self._described("campaign", self.backend.campaigns.describe(request["campaignArn"]))

    def update_campaign(self, request: Request) -> Body:
        campaign = self.backend.campaigns.update(
            request["campaignArn"],
            request.get("solutionVersionArn"),
            request.get("minProvisionedTPS"),
            request.get("campaignConfig"),
        )
        return {"campaignArn": campaign.arn}

    def list_campaigns(self, request: Request) -> Body:
        return self._listed(request, "campaigns", self.backend.campaigns.newest_first(request.get("solutionArn")))

    def delete_campaign(self, request: Request) -> Body:
        self.backend.campaigns.delete(request["campaignArn"])
        return {}


def _page(request: Request, key: str, bodies: list[Body]) -> Body:
    """One page of a List* answer: `nextToken` is the index of the page's first item."""
    token = request.get("nextToken")
    try:
        start = int(token) if token is not None else 0
    except ValueError:
        start = -1
    if not 0 <= start <= len(bodies):
        raise PersonalizeError("InvalidNextTokenException", f"The nextToken {token!r} is not valid.")
    end = start + request.get("maxResults", DEFAULT_MAX_RESULTS)
    page: Body = {key: bodies[start:end]}
    if end < len(bodies):
        page["nextToken"] = str(end)
    return page
