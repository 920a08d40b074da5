"""The data bucket's lifecycle, deployed offline: a run's intermediate outputs expire, what users need is kept.

moto stores lifecycle rules but never applies them, so which rule an object falls under is read the way S3
matches a rule's filter: the key starts with its prefix and the object carries every tag it names.
"""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from offline_aws import offline_aws

from recflow.offline.clock import SimClock
from recflow.offline.stack import TEMPLATE, Stack, deploy_stack
from recflow.offline.template import REGION, Template

RUN = "20240501T061000Z-0a1b2c3d"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    clock = SimClock(scale=0)
    with offline_aws(clock):
        yield deploy_stack("recflow", Template(TEMPLATE, {"OutputRetentionDays": "14"}), clock)


@pytest.fixture(scope="module")
def rules(stack) -> list[dict[str, Any]]:
    s3 = boto3.client("s3", region_name=REGION)
    bucket = stack.output("DataBucketName")
    configured: list[dict[str, Any]] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    return configured


def _matches(rule: dict[str, Any], key: str, tags: dict[str, str]) -> bool:
    rule_filter = rule["Filter"]
    prefix = rule_filter.get("Prefix", rule_filter.get("And", {}).get("Prefix", ""))
    wanted = rule_filter.get("And", {}).get("Tags", []) + ([rule_filter["Tag"]] if "Tag" in rule_filter else [])
    return key.startswith(prefix) and all(tags.get(tag["Key"]) == tag["Value"] for tag in wanted)


def expires_after(rules: list[dict[str, Any]], key: str, tags: dict[str, str] | None = None) -> list[int]:
    """The Expiration days of every enabled rule that applies to the current version of `key`."""
    return [
        rule["Expiration"]["Days"]
        for rule in rules
        if rule["Status"] == "Enabled" and "Expiration" in rule and _matches(rule, key, tags or {})
    ]


def test_a_runs_transformed_data_rejects_and_tagged_batch_input_expire_after_the_parameters_days(rules):
    assert expires_after(rules, f"transformed/{RUN}/interactions/part-00000.csv") == [14]
    assert expires_after(rules, f"rejects/{RUN}/part-00000.json") == [14]
    assert expires_after(rules, f"batch_users_input/{RUN}/users.json", {"recflow-retention": "run-output"}) == [14]


@pytest.mark.parametrize(
    "key",
    [
        "raw/ratings-2024-05-01.dat",
        f"recommendations/{RUN}/users.json.out",
        "recommendations/latest.json",
        "history/phase-durations.json",
        "state/run-lock.json",
        "batch_users_input/vip-users.json",  # the user's own BatchUsersKey file: untagged
        f"batch_users_input/{RUN}/users.json",  # a copy without the pipeline's tag is not the pipeline's
    ],
)
def test_what_users_need_and_the_pipelines_own_state_are_kept(rules, key):
    assert expires_after(rules, key) == []


def test_incomplete_uploads_are_aborted_and_old_versions_expire_everywhere(rules):
    by_id = {rule["ID"]: rule for rule in rules}
    aborted = by_id["AbortIncompleteUploads"]
    assert (aborted["Filter"], aborted["AbortIncompleteMultipartUpload"]) == (
        {"Prefix": ""},
        {"DaysAfterInitiation": 7},
    )
    versions = by_id["ExpireOldVersions"]
    assert (versions["Filter"], versions["NoncurrentVersionExpiration"]) == ({"Prefix": ""}, {"NoncurrentDays": 30})


def test_the_default_retention_is_30_days():
    parameter = Template(TEMPLATE).doc["Parameters"]["OutputRetentionDays"]
    assert (parameter["Type"], parameter["Default"]) == ("Number", 30)
