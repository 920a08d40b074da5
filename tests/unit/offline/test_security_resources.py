"""The resources that meet checkov's checks deploy offline: access logs of the data bucket, the ETL's security
configuration, and one log group with a retention for every function."""

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from offline_aws import offline_aws

from recflow.offline import sam
from recflow.offline.clock import SimClock
from recflow.offline.stack import TEMPLATE, Stack, deploy_stack
from recflow.offline.template import REGION, Template


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    clock = SimClock(scale=0)
    with offline_aws(clock):
        yield deploy_stack("recflow", Template(TEMPLATE), clock)


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def test_the_data_bucket_logs_its_accesses_to_the_access_log_bucket_which_s3_log_delivery_may_write(stack):
    data, logs = stack.output("DataBucketName"), stack.resources["AccessLogBucket"].physical_id
    s3 = client("s3")
    # The data bucket delivers its server access logs under data-bucket/ of the log bucket
    assert s3.get_bucket_logging(Bucket=data)["LoggingEnabled"] == {
        "TargetBucket": logs,
        "TargetPrefix": "data-bucket/",
    }
    # The log bucket is private, encrypted, and its logs expire after a year
    assert all(s3.get_public_access_block(Bucket=logs)["PublicAccessBlockConfiguration"].values())
    (rule,) = s3.get_bucket_encryption(Bucket=logs)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (expiry,) = s3.get_bucket_lifecycle_configuration(Bucket=logs)["Rules"]
    assert expiry["Expiration"] == {"Days": 365}


def test_the_etl_job_runs_under_a_security_configuration_that_encrypts_its_s3_output(stack):
    glue = client("glue")
    job = glue.get_job(JobName=stack.output("EtlJobName"))["Job"]
    configuration = glue.get_security_configuration(Name=job["SecurityConfiguration"])["SecurityConfiguration"]
    assert configuration["Name"] == "recflow-etl"
    assert configuration["EncryptionConfiguration"]["S3Encryption"] == [{"S3EncryptionMode": "SSE-S3"}]


def test_every_function_logs_to_the_stacks_function_log_group_which_has_a_retention(stack):
    # Given the template as SAM translates it (the translator takes only an S3 CodeUri)
    template = Template(TEMPLATE)
    packaged = copy.deepcopy(template.doc)
    packaged["Globals"]["Function"]["CodeUri"] = "s3://artifacts/functions.zip"
    packaged["Resources"]["PipelineStateMachine"]["Properties"]["DefinitionUri"] = "s3://artifacts/pipeline.asl.json"
    resources = sam.translate(packaged, template.parameters, "recflow", REGION)["Resources"]
    functions = {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    # Then every function writes to the one log group (Globals), none to a group Lambda would make unbounded
    assert len(functions) == 11
    assert all(props["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionLogGroup"}} for props in functions.values())
    # And the deployed log group keeps its events 90 days, like the state machine's
    (group,) = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/recflow-functions")["logGroups"]
    assert group["retentionInDays"] == 90
