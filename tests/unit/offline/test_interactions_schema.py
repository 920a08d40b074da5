"""The interactions schema follows EventTypeColumn/EventValueColumn, and the ETL's CSV header matches it."""

import json
from collections.abc import Iterator
from typing import Any

import avro.schema
import boto3
import pytest
from offline_aws import offline_aws

from recflow.offline.clock import SimClock
from recflow.offline.etl import load_glue_script, run_etl
from recflow.offline.stack import TEMPLATE, Stack, deploy_stack
from recflow.offline.template import REGION, Template
from recflow.personalize_local.schema import check_interactions_schema, parse_schema

glue = load_glue_script()

# (EventTypeColumn, EventValueColumn) -> the schema's fields as (name, Avro type), in order.
COMBINATIONS = {
    ("", ""): [("USER_ID", "string"), ("ITEM_ID", "string"), ("TIMESTAMP", "long")],
    ("kind", ""): [("USER_ID", "string"), ("ITEM_ID", "string"), ("EVENT_TYPE", "string"), ("TIMESTAMP", "long")],
    ("", "rating"): [("USER_ID", "string"), ("ITEM_ID", "string"), ("EVENT_VALUE", "float"), ("TIMESTAMP", "long")],
    ("kind", "rating"): [
        ("USER_ID", "string"),
        ("ITEM_ID", "string"),
        ("EVENT_TYPE", "string"),
        ("EVENT_VALUE", "float"),
        ("TIMESTAMP", "long"),
    ],
}


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[tuple[str, str], Stack]]:
    clock = SimClock(scale=0)
    with offline_aws(clock):
        deployed = {}
        for n, (event_type, event_value) in enumerate(COMBINATIONS):
            parameters = {"EventTypeColumn": event_type, "EventValueColumn": event_value}
            deployed[(event_type, event_value)] = deploy_stack(f"schema{n}", Template(TEMPLATE, parameters), clock)
        yield deployed


def deployed_schema(stack: Stack) -> tuple[str, str]:
    """(arn, Avro text) of the stack's interactions schema, as Personalize stored it."""
    personalize: Any = boto3.client("personalize", region_name=REGION)
    arn = stack.resources["InteractionsSchema"].physical_id
    return arn, personalize.describe_schema(schemaArn=arn)["schema"]["schema"]


@pytest.mark.parametrize("combination", list(COMBINATIONS), ids=lambda c: f"type={c[0] or '-'},value={c[1] or '-'}")
def test_each_parameter_combination_deploys_its_schema(
    stacks: dict[tuple[str, str], Stack], combination: tuple[str, str]
) -> None:
    arn, text = deployed_schema(stacks[combination])

    parsed = avro.schema.parse(text)  # raises on anything that is not valid Avro
    assert isinstance(parsed, avro.schema.RecordSchema)
    assert [(field.name, field.type.type) for field in parsed.fields] == COMBINATIONS[combination]
    assert (parsed.name, parsed.namespace) == ("Interactions", "com.amazonaws.personalize.schema")
    check_interactions_schema(parse_schema(arn, text))  # the local Personalize's Interactions rules


@pytest.mark.parametrize("combination", list(COMBINATIONS), ids=lambda c: f"type={c[0] or '-'},value={c[1] or '-'}")
def test_the_etl_writes_the_columns_of_the_deployed_schema_in_its_order(
    stacks: dict[tuple[str, str], Stack], combination: tuple[str, str]
) -> None:
    # Given the Glue job's arguments as the stack passes them
    job = stacks[combination].resources["EtlJob"].physical_id
    arguments = boto3.client("glue", region_name=REGION).get_job(JobName=job)["Job"]["DefaultArguments"]
    options = glue.parse_options(arguments)
    body = b"user,item,ts,kind,rating\n75,3,1162160236,click,4.5\n"

    # When the ETL runs with them
    result = run_etl([("raw/a.csv", body)], None, "run-1", options)

    # Then the CSV header is the schema's field names, in the schema's order
    _, text = deployed_schema(stacks[combination])
    header = result.interactions_csv.decode().splitlines()[0]
    assert header.split(",") == [field["name"] for field in json.loads(text)["fields"]]
