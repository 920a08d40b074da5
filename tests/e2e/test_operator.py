"""`recflow aws …` against a real `recflow local serve` subprocess over HTTP: one server, one pipeline run.

The commands run in-process (typer's CliRunner) with --endpoint-url and dummy credentials; what they print is
checked against what plain boto3 reads from the same server.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from served import (
    AWS_CLI,
    RECFLOW,
    Served,
    client_env,
    executions,
    free_port,
    out_lines,
    run_pipeline,
    serving,
    wait_for_end,
    wait_for_new_run,
)
from typer.testing import CliRunner

from recflow import cli
from recflow.operator.stack import default_stack_name
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

BAD_LINES = ["44\t10\tfive\t1211059494000", "44\t10\t2.5", "45\tx y\t3\t1211059494000"]  # 3 rejects, 3 reasons


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("operator") / "lake", tmp_path_factory.mktemp("home")) as served:
        yield served


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    generate(path, users=40, items=200, interactions=2_000, seed=5)
    with path.open("a") as raw:
        raw.write("\n".join(BAD_LINES) + "\n")
    return path


@pytest.fixture(scope="module")
def invoke(served):
    runner = CliRunner()
    env = {
        "AWS_ACCESS_KEY_ID": "operator",
        "AWS_SECRET_ACCESS_KEY": "operator",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PROFILE": None,
        "AWS_ENDPOINT_URL": None,
        "CI": "1",
    }

    def run(*args: str, endpoint: str | None = served.url, **overrides: str | None):
        wide = Console(width=250)  # the tables' columns stay whole, as in a wide terminal
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys.modules["recflow.cli.aws"], "console", wide)  # the module that prints
            options = ["--endpoint-url", endpoint] if endpoint else []
            return runner.invoke(cli.app, ["aws", *args, *options], env={**env, **overrides})

    return run


@pytest.fixture(scope="module")
def first_run(served: Served, raw_file, invoke):
    result = invoke("run", "--raw", str(raw_file))
    (execution,) = executions(served)
    return result, execution["name"]


def _report(served: Served, run_id: str) -> dict:
    body = served.client("s3").get_object(
        Bucket=served.outputs()["DataBucketName"], Key=f"transformed/{run_id}/report.json"
    )
    return json.loads(body["Body"].read())


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_run_uploads_the_file_and_follows_the_run_to_succeeded(served, first_run):
    result, run_id = first_run
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert f"Uploaded s3://{served.outputs()['DataBucketName']}/raw/ratings.dat" in result.output
    assert f"Started run {run_id}" in result.output
    assert f"Run {run_id} SUCCEEDED" in result.output
    phases = re.search(r"Phases: (.*)", result.output)
    assert phases, result.output
    assert [p.split()[0] for p in phases.group(1).split(" · ")] == ["etl", "data", "import", "train", "batch", "finish"]
    # the line-based view (CI is set) shows each Personalize job ending ACTIVE
    for job in ("import", "train", "batch"):
        assert re.search(rf"{job} job ACTIVE after \d+ s \(poll \d+\)", result.output), job


def test_status_lists_the_run_with_its_outcome_and_counts(served, first_run, invoke):
    _, run_id = first_run
    result = invoke("status")
    assert result.exit_code == 0, result.output
    report = _report(served, run_id)
    (row,) = [line for line in result.output.splitlines() if run_id in line]
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[1] == "SUCCEEDED"
    assert cells[-4:] == [str(report[k]) for k in ("interactions", "users", "items", "rejected")]
    assert report["interactions"] == 2_000 - report["duplicates_dropped"] - report["below_min_rating"]
    assert all(re.fullmatch(r"[\d.]+ s", cell) for cell in cells[3:10]), cells  # duration and six phases


def test_recs_prints_the_users_items_and_scores_from_the_out_file(served, first_run, invoke):
    _, run_id = first_run
    line = out_lines(served, run_id)[7]
    user = line["input"]["userId"]
    for args in (("--user", user), ("--user", user, "--run", run_id)):
        result = invoke("recs", *args)
        assert result.exit_code == 0, result.output
        assert f"Recommendations for user {user} from run {run_id}" in result.output
        rows = re.findall(r"│\s+(\d+) │ (\S+)\s+│\s+(\S+) │", result.output)
        assert [item for _, item, _ in rows] == line["output"]["recommendedItems"]
        assert [float(score) for _, _, score in rows] == pytest.approx(line["output"]["scores"], rel=1e-5)
        assert [int(rank) for rank, _, _ in rows] == list(range(1, len(rows) + 1))


def test_metrics_prints_each_metric_of_the_solution_version(served, first_run, invoke):
    personalize = served.client("personalize")
    (version,) = personalize.list_solution_versions(solutionArn=served.outputs()["SolutionArn"])["solutionVersions"]
    metrics = personalize.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])["metrics"]
    result = invoke("metrics")
    assert result.exit_code == 0, result.output
    assert version["solutionVersionArn"].rsplit("/", 1)[-1] in result.output
    assert len(metrics) >= 5
    for name, value in metrics.items():
        assert re.search(rf"│ {re.escape(name)}\s+│\s+{value:.4f} │", result.output), name


def test_runs_shows_interactions_and_rejects_with_their_reasons(served, first_run, invoke):
    _, run_id = first_run
    report = _report(served, run_id)
    assert report["rejected"] == len(BAD_LINES) and len(report["rejects_by_reason"]) == 3
    result = invoke("runs", "--last", "5")
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.output.splitlines() if run_id in line]
    assert f"│ {report['interactions']} │" in _flat(row)
    assert f"│ {len(BAD_LINES)} │" in _flat(row)
    for reason in report["rejects_by_reason"]:
        assert f"{reason} ×1" in row


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("status", "--run", "no-such-run"), "run 'no-such-run' is unknown to stack 'recflow'"),
        (("recs", "--user", "1", "--run", "no-such-run"), "run 'no-such-run' is unknown to stack 'recflow'"),
        (("recs", "--user", "no-such-user"), "user 'no-such-user' has no recommendations in run"),
        (("runs", "--stack", "no-such-stack"), "stack 'no-such-stack' does not exist in"),
        (("recs", "--user", "1", "--item", "2"), "give exactly one of --user ID or --item ID"),
        (("run", "--raw", "/no/such/file.dat"), "/no/such/file.dat is not a file"),
    ],
)
def test_expected_failures_say_so_in_one_sentence(first_run, invoke, args, sentence):
    result = invoke(*args)
    assert result.exit_code == 2
    assert _flat(result.output).startswith(f"error: {sentence}"), result.output
    assert len(result.output.strip().splitlines()) <= 3 and "Traceback" not in result.output


def test_an_unreachable_endpoint_says_so_in_one_sentence(invoke):
    port = free_port()  # nothing listens there
    result = invoke("status", endpoint=f"http://127.0.0.1:{port}")
    assert result.exit_code == 2
    assert _flat(result.output).startswith(f"error: cannot reach http://127.0.0.1:{port}"), result.output


# After the read-only tests: it starts a second run on the shared server.
def test_a_run_on_the_current_data_is_followed_to_its_recommendations(served, first_run, invoke):
    started = invoke("run", "--no-follow")
    assert started.exit_code == 0, started.output
    (run_id,) = re.findall(r"Started run (scheduled-\S+)", started.output)
    # When it is followed, it ends in SUCCEEDED with exit code 0
    followed = invoke("status", "--follow", "--run", run_id)
    assert followed.exit_code == 0, followed.output
    assert f"Run {run_id} SUCCEEDED" in followed.output
    assert len(out_lines(served, run_id)) == 40


def test_a_run_that_ended_without_output_has_no_recommendations_in_one_sentence(served, first_run, invoke):
    # Given a run that failed at its first step (an input that is no upload event), so never wrote output
    machine = served.outputs()["StateMachineArn"]
    started = served.client("stepfunctions").start_execution(stateMachineArn=machine, name="no-event", input="{}")
    assert wait_for_end(served, started["executionArn"])["status"] == "FAILED"
    # When its recommendations are asked for
    result = invoke("recs", "--user", "1", "--run", "no-event")
    # Then the run has none, which is one sentence naming where they would be
    bucket = served.outputs()["DataBucketName"]
    assert result.exit_code == 2
    assert _flat(result.output) == (
        f"error: run no-event (FAILED) has no recommendations: it ended without writing "
        f"s3://{bucket}/recommendations/no-event/"
    )


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the AWS CLI is in the dev extras (pip install -e '.[dev]')")
def test_a_run_uploaded_with_the_aws_cli_is_followed_by_recflow_aws_status(served, raw_file, tmp_path):
    # The user's flow: AWS_ENDPOINT_URL in the environment, the AWS CLI uploads, `recflow aws status --follow`
    # (a real process, no terminal) watches.
    env = client_env(tmp_path, served.url)
    before = {e["executionArn"] for e in executions(served)}
    bucket = served.outputs()["DataBucketName"]
    copy = [str(AWS_CLI), "s3", "cp", str(raw_file), f"s3://{bucket}/raw/from-cli.dat"]
    subprocess.run(copy, env=env, check=True, capture_output=True, timeout=60)
    execution = wait_for_new_run(served, before)
    followed = subprocess.run(
        [str(RECFLOW), "aws", "status", "--follow"], env=env, capture_output=True, text=True, timeout=120
    )
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert f"Following run {execution['name']} (stack recflow)" in followed.stdout
    assert f"Run {execution['name']} SUCCEEDED" in followed.stdout
    assert served.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["status"] == (
        "SUCCEEDED"
    )


@pytest.fixture(scope="module")
def related_items(tmp_path_factory):
    """A second server, whose stack runs the related-items recipe, after one run of a small file."""
    recipe = ("--parameter", "Recipe=aws-similar-items")
    with serving(tmp_path_factory.mktemp("items") / "lake", tmp_path_factory.mktemp("home"), *recipe) as served:
        raw = tmp_path_factory.mktemp("items-data") / "ratings.dat"
        generate(raw, users=40, items=200, interactions=2_000, seed=7)
        yield served, run_pipeline(served, raw)


def test_recs_for_an_item_prints_its_related_items_from_the_out_file(related_items, invoke):
    served, run = related_items
    assert run["status"] == "SUCCEEDED", run
    lines = out_lines(served, run["name"])
    assert all(set(line["input"]) == {"itemId"} and line["error"] is None for line in lines)
    (line, *_) = [line for line in lines if len(line["output"]["recommendedItems"]) > 3]
    item, recommended = line["input"]["itemId"], line["output"]["recommendedItems"]
    # When the operator asks for that item's recommendations
    result = invoke("recs", "--item", item, endpoint=served.url)
    # Then they are the .out line's items, in order, without scores: related-items recipes return none
    assert result.exit_code == 0, result.output
    assert f"Recommendations for item {item} from run {run['name']}" in result.output
    rows = re.findall(r"│\s+(\d+) │ (\S+)\s+│\s+(\S+) │", result.output)
    assert [item for _, item, _ in rows] == recommended
    assert "scores" not in line["output"]
    assert [score for _, _, score in rows] == ["-"] * len(recommended)
    assert item not in recommended  # related items, not the item itself


def test_recs_for_an_item_not_in_the_batch_input_says_so_in_one_sentence(related_items, invoke):
    served, run = related_items
    result = invoke("recs", "--item", "no-such-item", endpoint=served.url)
    assert result.exit_code == 2
    assert _flat(result.output) == (
        f"error: item 'no-such-item' has no recommendations in run {run['name']}: it was not in the batch input"
    )


def test_missing_credentials_say_so_in_one_sentence(invoke, tmp_path):
    result = invoke(
        "runs",
        AWS_ACCESS_KEY_ID=None,
        AWS_SECRET_ACCESS_KEY=None,
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    assert result.exit_code == 2
    assert _flat(result.output).startswith("error: no AWS credentials found: set AWS_PROFILE"), result.output


def test_the_default_stack_is_samconfigs_stack_name(tmp_path):
    assert default_stack_name(Path(__file__).parents[2] / "samconfig.toml") == "recflow"
    config = tmp_path / "samconfig.toml"
    config.write_text('version = 0.1\n[default.deploy.parameters]\nstack_name = "recs-staging"\n')
    assert default_stack_name(config) == "recs-staging"
    assert default_stack_name(tmp_path / "missing.toml") == "recflow"
