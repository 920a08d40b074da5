"""`recflow local report` and `recflow aws report`, read in a real headless Chromium from file://, as a user opens
the page: what it shows, that every plot rendered, no console error, nothing fetched but the page itself.

The lake comes from the real offline pipeline on a small synthetic file: one run that succeeds, one that fails in
training (`--fault train:fail`) with rejected lines. The stack's report reads `recflow local serve` over HTTP.
"""

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from served import Served, serving
from typer.testing import CliRunner

from recflow.cli import app
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e
runner = CliRunner()
BAD_LINES = ["44\t10\tfive\t1211059494000", "44\t10\t2.5", "45\tx y\t3\t1211059494000"]  # 3 rejects, 3 reasons


def _invoke(*args: Any, **env: str | None):
    return runner.invoke(app, [str(arg) for arg in args], env={"CI": "1", **env})


def _printed_page(output: str) -> Path:
    """The page's path, the last line the command prints."""
    page = Path(output.strip().splitlines()[-1])
    assert page.name == "index.html" and page.is_absolute() and page.is_file(), output
    return page


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    generate(path, users=40, items=200, interactions=2_000, seed=5)  # above Personalize's minimums
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory, raw_file) -> Path:
    lake = tmp_path_factory.mktemp("report") / "lake"
    succeeded = _invoke("local", "run", "--raw", raw_file, "--lake", lake, "--time-scale", "0")
    assert succeeded.exit_code == 0, succeeded.output
    with_rejects = raw_file.parent / "more" / raw_file.name  # the same key again: a new version, a new run
    with_rejects.parent.mkdir()
    with_rejects.write_text(raw_file.read_text() + "\n".join(BAD_LINES) + "\n")
    failed = _invoke(
        "local", "run", "--raw", with_rejects, "--lake", lake, "--time-scale", "0", "--fault", "train:fail"
    )
    assert failed.exit_code == 1, failed.output
    return lake


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH: install Debian's package (apt-get install chromium), as .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


@dataclass
class Seen:
    """What the page showed in the browser."""

    title: str
    runs: list[list[str]]  # the runs table's rows, cell texts
    sections: dict[str, dict[str, Any]]  # per run id: its phases table rows, rejects rows, failure box
    metrics: list[list[str]]  # the metrics-across-runs table, header row first
    plots: list[dict[str, float]]  # each inline SVG's rendered box
    console_errors: list[str]
    requests: list[str]


def _rows(locator: Any) -> list[list[str]]:
    return [[cell.strip() for cell in row] for row in locator.evaluate_all(_CELLS)]


_CELLS = "rows => rows.map(row => Array.from(row.querySelectorAll('th, td'), cell => cell.innerText))"


def _open(browser: Any, page_path: Path) -> Seen:
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(page_path.as_uri(), wait_until="load")
    sections = {}
    for section in page.locator("section.run").all():
        run_id = section.locator("h2 code").inner_text()
        failure = section.locator(".failure")
        sections[run_id] = {
            "phases": _rows(section.locator("table.phases tbody tr")),
            "rejects": _rows(section.locator("table.rejects tbody tr")),
            "failure": failure.inner_text() if failure.count() else None,
            "plots": section.locator("svg").count(),
        }
    seen = Seen(
        title=page.title(),
        runs=_rows(page.locator("#runs tbody tr")),
        sections=sections,
        metrics=_rows(page.locator("#metrics table tr")),
        plots=[svg.bounding_box() for svg in page.locator("svg").all()],
        console_errors=errors,
        requests=requests,
    )
    page.close()
    return seen


def _assert_self_contained(seen: Seen, page_path: Path, plots: int) -> None:
    assert len(seen.plots) == plots
    assert all(box is not None and box["width"] > 100 and box["height"] > 50 for box in seen.plots), seen.plots
    assert seen.console_errors == []
    assert seen.requests == [page_path.as_uri()]


def _summary(lake: Path, run_id: str) -> dict[str, Any]:
    return json.loads((lake / "runs" / run_id / "summary.json").read_text())


def test_local_report_shows_each_run_its_phases_rejects_metrics_and_plots_in_a_browser(lake, browser, tmp_path):
    # When the user writes the lake's report and opens it from disk
    result = _invoke("local", "report", "--lake", lake, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    page_path = _printed_page(result.output)
    assert page_path == (tmp_path / "report" / "index.html").resolve()
    seen = _open(browser, page_path)

    # Then the runs table lists both runs, newest (the failed one) first, with their counts
    failed_id, succeeded_id = (row[0] for row in seen.runs)
    failed, succeeded = _summary(lake, failed_id), _summary(lake, succeeded_id)
    assert (failed["status"], succeeded["status"]) == ("FAILED", "SUCCEEDED")
    assert [row[1] for row in seen.runs] == ["FAILED", "SUCCEEDED"]
    # ordered by when the executions started, as the summaries record it in UTC
    started = [datetime.fromisoformat(summary["started"]) for summary in (failed, succeeded)]
    assert started[0] > started[1] and all(when.utcoffset() == timedelta(0) for when in started)
    assert [row[2] for row in seen.runs] == [when.strftime("%Y-%m-%d %H:%M:%S") for when in started]
    assert seen.runs[0][4:9] == ["2,000", "40", "200", "3", "train (JobFailed)"]
    assert seen.title == f"recflow report: lake {lake.resolve()}"

    # The phases tables show each job's status, time on the pipeline's clock and polls, as the summaries say
    for run_id, summary in ((succeeded_id, succeeded), (failed_id, failed)):
        rows = {row[0].rstrip(" ✗"): row for row in seen.sections[run_id]["phases"]}
        assert list(rows) == ["etl", "data", "import", "train", "batch", "finish"]
        for phase in ("import", "train"):
            job = summary["phases"][phase]
            assert rows[phase][2:] == [job["status"], f"{job['job_seconds']:,.1f} s", str(job["polls"])]
    assert seen.sections[succeeded_id]["phases"][4][2] == "ACTIVE"
    assert seen.sections[failed_id]["phases"][3][0] == "train ✗"
    assert seen.sections[failed_id]["phases"][3][2] == "CREATE FAILED"
    assert seen.sections[failed_id]["failure"].startswith("Failed in phase train: JobFailed")
    assert "faults.train=fail" in seen.sections[failed_id]["failure"]

    # The failed run's rejects: the ETL report's reasons and counts, each with one of the bad lines
    by_reason = json.loads((lake / "transformed" / failed_id / "report.json").read_text())["rejects_by_reason"]
    rejects = seen.sections[failed_id]["rejects"]
    assert {row[0]: int(row[1]) for row in rejects} == by_reason and len(by_reason) == 3
    assert sorted(row[2] for row in rejects) == sorted(BAD_LINES)
    assert seen.sections[succeeded_id]["rejects"] == []

    # Metrics across runs: only the run that trained, with the summary's values
    assert seen.metrics[0] == ["Metric", succeeded_id]
    shown = {row[0]: row[1] for row in seen.metrics[1:]}
    assert shown == {name: f"{value:.4f}" for name, value in succeeded["metrics"].items()}

    # Plots: metrics; per user, per item, popularity for the run with output; no popularity for the failed one
    assert (seen.sections[succeeded_id]["plots"], seen.sections[failed_id]["plots"]) == (3, 2)
    _assert_self_contained(seen, page_path, plots=6)


@pytest.mark.parametrize(
    "where, message",
    [
        ("missing", "lake directory {lake} does not exist: pass the --lake of `recflow local run`"),
        ("empty", "lake {lake} has no runs (no runs/*/summary.json)"),
    ],
)
def test_local_report_of_no_lake_or_no_runs_is_one_sentence(tmp_path, where, message):
    lake = tmp_path / where
    if where == "empty":
        (lake / "raw").mkdir(parents=True)
    result = _invoke("local", "report", "--lake", lake, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert message.format(lake=lake) in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_local_report_into_a_file_is_one_sentence(lake, tmp_path):
    taken = tmp_path / "taken.html"
    taken.write_text("mine")
    result = _invoke("local", "report", "--lake", lake, "--out", taken)
    assert result.exit_code == 2
    assert f"--out {taken} is a file, not a directory" in " ".join(result.output.split())
    assert taken.read_text() == "mine"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("served") / "lake", tmp_path_factory.mktemp("home")) as served:
        yield served


def test_aws_report_reads_the_deployed_stack_over_http(served, raw_file, browser, tmp_path):
    env = {
        "AWS_ACCESS_KEY_ID": "report",
        "AWS_SECRET_ACCESS_KEY": "report",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PROFILE": None,
        "AWS_ENDPOINT_URL": None,
    }
    out = tmp_path / "stack-report"
    # Given a stack with no run yet, the report says so
    empty = _invoke("aws", "report", "--out", out, "--endpoint-url", served.url, **env)
    assert empty.exit_code == 2
    assert "stack 'recflow' has no runs yet: start one with `recflow aws run --raw FILE`" in " ".join(
        empty.output.split()
    )
    # When a run ends and the user writes the stack's report
    run = _invoke("aws", "run", "--raw", raw_file, "--endpoint-url", served.url, **env)
    assert run.exit_code == 0, run.output
    result = _invoke("aws", "report", "--out", out, "--endpoint-url", served.url, **env)
    assert result.exit_code == 0, result.output
    seen = _open(browser, _printed_page(result.output))

    # Then it shows the run with the ETL report's counts and the solution version's metrics, read over HTTP
    outputs = served.outputs()
    (execution,) = served.client("stepfunctions").list_executions(stateMachineArn=outputs["StateMachineArn"])[
        "executions"
    ]
    run_id = execution["name"]
    report = json.loads(
        served.client("s3")
        .get_object(Bucket=outputs["DataBucketName"], Key=f"transformed/{run_id}/report.json")["Body"]
        .read()
    )
    assert [row[:2] for row in seen.runs] == [[run_id, "SUCCEEDED"]]
    assert seen.runs[0][4:8] == [f"{report[name]:,}" for name in ("interactions", "users", "items", "rejected")]
    assert seen.title == f"recflow report: stack recflow (s3://{outputs['DataBucketName']} at {served.url})"
    personalize = served.client("personalize")
    (version,) = personalize.list_solution_versions(solutionArn=outputs["SolutionArn"])["solutionVersions"]
    metrics = personalize.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])["metrics"]
    assert {row[0]: row[1] for row in seen.metrics[1:]} == {name: f"{value:.4f}" for name, value in metrics.items()}
    # Each Personalize job's last status and polls come from the execution history
    rows = {row[0]: row for row in seen.sections[run_id]["phases"]}
    assert [rows[phase][2] for phase in ("etl", "import", "train", "batch")] == [
        "SUCCEEDED",
        "ACTIVE",
        "ACTIVE",
        "ACTIVE",
    ]
    assert all(int(rows[phase][4]) >= 1 for phase in ("import", "train", "batch"))
    _assert_self_contained(seen, _printed_page(result.output), plots=4)
