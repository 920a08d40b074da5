"""A user's (or an item's) recommendations: read from a run's batch inference output, or asked of the stack's
campaign in real time (personalize-runtime GetRecommendations, with the stack's filter)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError
from recflow_lambda.finish import LATEST_KEY, output_prefix
from recflow_lambda.models import LatestPointer

from recflow.operator.runs import describe
from recflow.operator.stack import OperatorError, Stack

REALTIME_NUM_RESULTS = 25  # GetRecommendations' default


@dataclass
class Recommendations:
    run_id: str
    key: str  # the .out file the line came from
    items: list[str]
    scores: list[float | None]


def latest_run(stack: Stack) -> str:
    s3 = stack.client("s3")
    try:
        body = s3.get_object(Bucket=stack.bucket, Key=LATEST_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise OperatorError(
            f"s3://{stack.bucket}/{LATEST_KEY} does not exist: no run has succeeded yet (`recflow aws runs`)"
        ) from None
    return LatestPointer.model_validate_json(body).run_id


def output_keys(stack: Stack, run_id: str) -> list[str]:
    """The run's .out files; a run without them is an OperatorError (unknown, or no output yet)."""
    pages = (
        stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=output_prefix(run_id))
    )
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".out"))
    if not keys:
        status = describe(stack, run_id)["status"]  # raises for an unknown run
        where = f"s3://{stack.bucket}/{output_prefix(run_id)}"
        if status == "RUNNING":
            raise OperatorError(f"run {run_id} (RUNNING) has no recommendations yet: {where} holds no .out file")
        raise OperatorError(f"run {run_id} ({status}) has no recommendations: it ended without writing {where}")
    return keys


def find(stack: Stack, field_name: str, value: str, run_id: str | None = None) -> Recommendations:
    """The output line whose input has ``field_name`` (userId or itemId) equal to ``value``."""
    run_id = run_id or latest_run(stack)
    who = "user" if field_name == "userId" else "item"
    s3 = stack.client("s3")
    for key in output_keys(stack, run_id):
        for line in s3.get_object(Bucket=stack.bucket, Key=key)["Body"].iter_lines():
            record = json.loads(line) if line.strip() else {}
            given = record.get("input")  # echoed as sent: not an object on a line Personalize could not read
            if not isinstance(given, dict) or field_name not in given or str(given[field_name]) != value:
                continue
            output = record.get("output") or {}
            if record.get("error") and not output.get("recommendedItems"):
                raise OperatorError(f"{who} {value!r} has no recommendations in run {run_id}: {record['error']}")
            items = [str(item) for item in output.get("recommendedItems", [])]
            scores = list(output.get("scores") or [None] * len(items))
            return Recommendations(run_id=run_id, key=key, items=items, scores=scores)
    raise OperatorError(f"{who} {value!r} has no recommendations in run {run_id}: it was not in the batch input")


@dataclass
class RealtimeRecommendations:
    campaign_arn: str
    filter_arn: str | None  # the stack's filter, applied when the stack has one
    items: list[str]
    scores: list[float | None]
    recommendation_id: str


def ask_campaign(
    stack: Stack, field_name: str, value: str, num_results: int = REALTIME_NUM_RESULTS
) -> RealtimeRecommendations:
    """The stack's campaign's answer for ``field_name`` (userId or itemId) equal to ``value``, filtered by the
    stack's filter (Output FilterArn) when it has one."""
    campaign = stack.outputs.get("CampaignArn")
    if not campaign:
        raise OperatorError(
            f"stack {stack.name!r} has no campaign (no CampaignArn output): deploy it with CampaignMinTPS 1 or more "
            "to get real-time recommendations, or drop --realtime to read the latest run's batch output"
        )
    filter_arn = stack.outputs.get("FilterArn") or None
    request: dict[str, object] = {"campaignArn": campaign, field_name: value, "numResults": num_results}
    if filter_arn:
        request["filterArn"] = filter_arn
    try:
        answer = stack.client("personalize-runtime").get_recommendations(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise OperatorError(
                f"campaign {campaign} does not answer yet ({error.response['Error']['Message']}): a run creates or "
                "updates it and waits until it is ACTIVE (`recflow aws runs`)"
            ) from None
        raise
    entries = answer.get("itemList", [])
    return RealtimeRecommendations(
        campaign_arn=campaign,
        filter_arn=filter_arn,
        items=[str(entry["itemId"]) for entry in entries],
        scores=[entry.get("score") for entry in entries],
        recommendation_id=str(answer.get("recommendationId", "")),
    )
