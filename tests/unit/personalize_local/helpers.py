"""Helpers for the local Personalize service tests.

`Api.call` sends a request dict to `PersonalizeResponses.handle` and checks the answer the way boto3
would see it: every member is in botocore's output shape with the right type, the body parses with
botocore's own JSON parser, and every error code is one the operation declares.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
import numpy as np
from botocore.parsers import create_parser

from recflow.offline.clock import SimClock
from recflow.offline.moto_extensions import moto_schema_text
from recflow.personalize_local.backend import PersonalizeBackend
from recflow.personalize_local.errors import PersonalizeError
from recflow.personalize_local.interactions import Interactions
from recflow.personalize_local.responses import PersonalizeResponses
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import Trainer

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
BUCKET = "lake"
START = 1_700_000_000.0
ROLE = f"arn:aws:iam::{ACCOUNT}:role/recflow-personalize"
RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}
MODEL = botocore.session.get_session().get_service_model("personalize")


# ------------------------------------------------------------------------------- response checks


def check_output(action: str, response: dict) -> None:
    shape = MODEL.operation_model(action).output_shape
    if shape is None:  # Delete* answer with an empty body
        assert response == {}
        return
    _check_members(shape, response, action)
    body = json.dumps(response).encode()  # moto sends exactly this
    parsed = create_parser("json").parse({"body": body, "headers": {}, "status_code": 200}, shape)
    assert "Error" not in parsed, parsed


def _check_members(shape, value: Any, path: str) -> None:
    kinds = {
        "structure": dict,
        "map": dict,
        "list": list,
        "string": str,
        "boolean": bool,
        "integer": int,
        "double": (int, float),
        "timestamp": (int, float),
    }
    assert isinstance(value, kinds[shape.type_name]), f"{path}: {value!r} is not a {shape.type_name}"
    if shape.type_name == "structure":
        for key, member in value.items():
            assert key in shape.members, f"{path}.{key} is not in the {shape.name} shape"
            assert member is not None, f"{path}.{key} is null"
            _check_members(shape.members[key], member, f"{path}.{key}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            _check_members(shape.member, item, f"{path}[{index}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            _check_members(shape.value, item, f"{path}.{key}")


# ------------------------------------------------------------------------------- fake recommender


@dataclass
class FakeModel:
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    recipe: str
    seed: int
    metrics: dict[str, float] = field(default_factory=lambda: {"coverage": 0.5, "precision_at_25": np.float64(0.125)})


@dataclass
class FakeRecommender:
    """A Trainer that records how it was called instead of training."""

    trained: list[FakeModel] = field(default_factory=list)
    batch_calls: list[tuple[Any, list[str], int]] = field(default_factory=list)

    def train(self, data: Interactions, recipe_arn: str, seed: int) -> FakeModel:
        model = FakeModel(data.users, data.items, data.timestamps, recipe_arn, seed)
        self.trained.append(model)
        return model

    def recommend(self, model: Any, input_lines: list[str], num_results: int, answer: Any = None) -> Iterator[str]:
        lines = list(input_lines)
        self.batch_calls.append((model, lines, num_results))
        for line in lines:
            yield json.dumps(
                {
                    "input": json.loads(line),
                    "output": {"recommendedItems": ["1"], "scores": [1.0]},
                    "error": None,
                }
            )


# ------------------------------------------------------------------------------------ the service


class Api:
    """The service under test, its clock, and shortcuts for the steps most tests share."""

    def __init__(self, clock: SimClock, settings: LocalSettings, schema_arn: str, trainer: Trainer) -> None:
        self.clock = clock
        self.schema_arn = schema_arn
        self.backend = PersonalizeBackend(
            ACCOUNT,
            REGION,
            clock=clock,
            s3=lambda: boto3.client("s3", region_name=REGION),
            schemas=moto_schema_text,
            trainer=trainer,
            settings=settings,
        )
        self.responses = PersonalizeResponses(self.backend)

    def call(self, action: str, **request: Any) -> dict:
        try:
            response = self.responses.handle(action, request)
        except PersonalizeError as exc:
            # ValidationException is one of the errors common to every AWS API.
            declared = [error.name for error in MODEL.operation_model(action).error_shapes] + ["ValidationException"]
            assert exc.code in declared, f"{action} does not declare {exc.code}"
            raise
        check_output(action, response)
        return response

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def dataset_group(self, name: str = "recflow") -> str:
        arn = self.call("CreateDatasetGroup", name=name)["datasetGroupArn"]
        self.advance(self.backend.settings.resource_seconds)
        return arn

    def dataset(self, group_arn: str) -> str:
        arn = self.call(
            "CreateDataset",
            name="interactions",
            schemaArn=self.schema_arn,
            datasetGroupArn=group_arn,
            datasetType="Interactions",
        )["datasetArn"]
        self.advance(self.backend.settings.resource_seconds)
        return arn

    def solution(self, group_arn: str, name: str = "recflow-solution", **extra: Any) -> str:
        arn = self.call("CreateSolution", name=name, datasetGroupArn=group_arn, recipeArn=RECIPE, **extra)[
            "solutionArn"
        ]
        self.advance(self.backend.settings.resource_seconds)
        return arn

    def start_import(self, dataset_arn: str, location: str, name: str = "import-1", mode: str = "FULL") -> str:
        return self.call(
            "CreateDatasetImportJob",
            jobName=name,
            datasetArn=dataset_arn,
            dataSource={"dataLocation": location},
            roleArn=ROLE,
            importMode=mode,
        )["datasetImportJobArn"]

    def finish(self, phase: str) -> None:
        self.advance(self.backend.settings.job_seconds[phase])

    def import_status(self, arn: str) -> dict:
        return self.call("DescribeDatasetImportJob", datasetImportJobArn=arn)["datasetImportJob"]

    def version_status(self, arn: str) -> dict:
        return self.call("DescribeSolutionVersion", solutionVersionArn=arn)["solutionVersion"]

    def batch_status(self, arn: str) -> dict:
        return self.call("DescribeBatchInferenceJob", batchInferenceJobArn=arn)["batchInferenceJob"]

    def imported_dataset(self, s3: Any, csv_text: str | None = None) -> tuple[str, str]:
        """A dataset group with an ACTIVE import of `csv_text` (default: enough for training)."""
        group = self.dataset_group()
        dataset = self.dataset(group)
        put(s3, "transformed/run-1/interactions/part-0.csv", csv_text or interactions_csv())
        job = self.start_import(dataset, f"s3://{BUCKET}/transformed/run-1/interactions/")
        self.finish("import")
        assert self.import_status(job)["status"] == "ACTIVE"
        return group, dataset

    def trained_version(self, s3: Any) -> str:
        group, _ = self.imported_dataset(s3)
        solution = self.solution(group, performAutoTraining=False)
        version = self.call("CreateSolutionVersion", solutionArn=solution, trainingMode="FULL")["solutionVersionArn"]
        self.finish("train")
        assert self.version_status(version)["status"] == "ACTIVE"
        return version


# ---------------------------------------------------------------------------------------- data


def interactions_csv(
    users: int = 30,
    per_user: int = 40,
    header: str = "USER_ID,ITEM_ID,TIMESTAMP",
    first_user: int = 1,
    start: int = 1_600_000_000,
) -> str:
    """Personalize CSV: `users` users with `per_user` distinct items each (a different mix per user),
    one interaction per minute."""
    rows = [header]
    columns = header.split(",")
    for user in range(first_user, first_user + users):
        for index in range(per_user):
            values = {
                "USER_ID": str(user),
                "ITEM_ID": str((index * 7 + user * 13) % 97 + 1),
                "TIMESTAMP": str(start + index * 60),
            }
            rows.append(",".join(values[column] for column in columns))
    return "\n".join(rows) + "\n"


def put(s3: Any, key: str, text: str | bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode() if isinstance(text, str) else text)


def read(s3: Any, key: str) -> str:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
