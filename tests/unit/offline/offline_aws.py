"""One mocked AWS account as the offline runtime sets it up, for tests that deploy the stack themselves."""

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto import mock_aws
from recflow_lambda.clients import clear_clients

from recflow.offline.clock import SimClock
from recflow.offline.glue_local import GlueLocal
from recflow.offline.moto_extensions import bucket_policy_conditions_as_aws, extended_moto
from recflow.offline.runtime import _MOTO_CONFIG, offline_environment
from recflow.offline.stack import Stack
from recflow.offline.template import REGION
from recflow.personalize_local.backend import backend_factory
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer


@contextmanager
def offline_aws(clock: SimClock) -> Iterator[None]:
    """moto with recflow's extensions, a local Glue and a local Personalize on `clock`, and the bucket
    policy's conditions evaluated as AWS does; clients the handlers cached are dropped on both sides."""
    with offline_environment(), mock_aws(config=_MOTO_CONFIG):
        clear_clients()
        s3 = lambda: boto3.client("s3", region_name=REGION)  # noqa: E731
        personalize = backend_factory(clock, s3, default_trainer(), LocalSettings())
        with extended_moto(clock, GlueLocal(clock).run, personalize), bucket_policy_conditions_as_aws():
            yield
    clear_clients()


def start_training(stack: Stack, clock: SimClock) -> str:
    """Import 1,200 interactions into the stack's dataset, then start a solution version; its ARN."""
    personalize = boto3.client("personalize", region_name=REGION)
    rows = ["USER_ID,ITEM_ID,TIMESTAMP"] + [
        f"{user},{(index * 7 + user * 13) % 97 + 1},{1_600_000_000 + index * 60}"
        for user in range(1, 31)
        for index in range(40)
    ]
    bucket = stack.output("DataBucketName")
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=bucket, Key="transformed/run-1/interactions.csv", Body="\n".join(rows) + "\n"
    )
    job = personalize.create_dataset_import_job(
        jobName="shop-run-1-import",
        datasetArn=stack.output("InteractionsDatasetArn"),
        dataSource={"dataLocation": f"s3://{bucket}/transformed/run-1/"},
        roleArn=stack.output("PersonalizeRoleArn"),
    )["datasetImportJobArn"]
    while personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]["status"] != "ACTIVE":
        clock.advance(60)
    version = personalize.create_solution_version(solutionArn=stack.output("SolutionArn"), name="shop-run-1-train")
    return str(version["solutionVersionArn"])
