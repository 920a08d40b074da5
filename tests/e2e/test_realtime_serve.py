"""Real-time recommendations through `recflow local serve`, as an application asks Personalize for them: with
CampaignMinTPS=1 an upload leads to an ACTIVE campaign on the run's solution version, and the AWS CLI's
`personalize-runtime get-recommendations` returns, for a user, the run's batch list: same items, same order,
none of them seen when the stack's filter is on, and seen items possible when ExcludeSeenItems=false."""

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from served import AWS_CLI, client_env, out_lines, run_pipeline, serving

from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

USERS_ASKED = 8


@pytest.fixture(scope="module")
def ratings(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    # Popular items are seen by many users, and every user has fewer than 100 interactions: Personalize's
    # filters consider only a user's 100 most recent interactions per event type.
    stats = generate(path, users=80, items=300, interactions=2_400, seed=5)
    assert stats.max_user_interactions < 100
    return path


@pytest.fixture(scope="module")
def seen(ratings) -> dict[str, set[str]]:
    """Each user's items in the uploaded file (the HetRec layout: userID, movieID, rating, timestamp)."""
    items: dict[str, set[str]] = {}
    with ratings.open(newline="") as lines:
        for row in csv.DictReader(lines, delimiter="\t"):
            items.setdefault(row["userID"], set()).add(row["movieID"])
    return items


def _run_and_ask(served, ratings: Path, home: Path, filtered: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Upload, wait for the run, then ask the campaign (AWS CLI) for the first users of the batch output.
    Returns the run's describe_execution and, per user asked, the batch line and the CLI's answer."""
    described = run_pipeline(served, ratings, "raw/ratings.dat")
    assert described["status"] == "SUCCEEDED", described
    outputs = served.outputs()
    assert ("FilterArn" in outputs) is filtered
    campaign = served.client("personalize").describe_campaign(campaignArn=outputs["CampaignArn"])["campaign"]
    versions = served.client("personalize").list_solution_versions(solutionArn=outputs["SolutionArn"])
    newest = max(versions["solutionVersions"], key=lambda v: v["creationDateTime"])
    assert campaign["status"] == "ACTIVE"
    assert campaign["solutionVersionArn"] == newest["solutionVersionArn"]
    assert campaign["minProvisionedTPS"] == 1

    answers = []
    for line in out_lines(served, described["name"])[:USERS_ASKED]:
        command = [str(AWS_CLI), "personalize-runtime", "get-recommendations", "--campaign-arn"]
        command += [outputs["CampaignArn"], "--user-id", line["input"]["userId"], "--num-results", "25"]
        if filtered:
            command += ["--filter-arn", outputs["FilterArn"]]
        done = subprocess.run(command, env=client_env(home, served.url), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        answers.append({"batch": line, "realtime": json.loads(done.stdout)})
    return described, answers


def test_the_campaign_serves_the_batch_lists_without_seen_items(tmp_path_factory, ratings, seen):
    home = tmp_path_factory.mktemp("home")
    with serving(tmp_path_factory.mktemp("serve") / "lake", home, "--parameter", "CampaignMinTPS=1") as served:
        _, answers = _run_and_ask(served, ratings, home, filtered=True)

    for answer in answers:
        user = answer["batch"]["input"]["userId"]
        batch = answer["batch"]["output"]
        realtime = answer["realtime"]["itemList"]
        assert len(batch["recommendedItems"]) == 25
        assert [entry["itemId"] for entry in realtime] == batch["recommendedItems"], user
        assert [entry["score"] for entry in realtime] == pytest.approx(batch["scores"], rel=1e-6), user
        assert not set(batch["recommendedItems"]) & seen[user], user
        assert answer["realtime"]["recommendationId"]


def test_without_the_filter_seen_items_appear_in_both(tmp_path_factory, ratings, seen):
    home = tmp_path_factory.mktemp("home")
    options = ("--parameter", "CampaignMinTPS=1", "--parameter", "ExcludeSeenItems=false")
    with serving(tmp_path_factory.mktemp("serve") / "lake", home, *options) as served:
        _, answers = _run_and_ask(served, ratings, home, filtered=False)

    seen_in_batch = seen_in_realtime = 0
    for answer in answers:
        user = answer["batch"]["input"]["userId"]
        realtime_items = [entry["itemId"] for entry in answer["realtime"]["itemList"]]
        assert realtime_items == answer["batch"]["output"]["recommendedItems"], user
        seen_in_batch += len(set(answer["batch"]["output"]["recommendedItems"]) & seen[user])
        seen_in_realtime += len(set(realtime_items) & seen[user])
    assert seen_in_batch > 0 and seen_in_realtime == seen_in_batch
