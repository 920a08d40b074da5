"""`recflow aws …`: the operator's tool against a deployed stack, on AWS or `recflow local serve`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from recflow.cli.common import console, fail, live_output

if TYPE_CHECKING:
    from recflow.operator.runs import Progress, Run
    from recflow.operator.stack import Stack

aws = typer.Typer(
    no_args_is_help=True,
    help="Operate a deployed stack (on AWS, or `recflow local serve` with --endpoint-url): runs, status, recs.",
)

# `recflow aws …`: the operator's tool. Every command takes the same connection options.
StackOption = Annotated[
    str | None,
    typer.Option("--stack", help="Stack name (default: samconfig.toml's stack_name, else recflow)."),
]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="AWS endpoint, e.g. recflow local serve's URL (default: AWS_ENDPOINT_URL)."),
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region (default: boto3's configuration).")]
RunIdOption = Annotated[str | None, typer.Option("--run", help="Run id (the execution name).")]
FOLLOW_TIMEOUT_SECONDS = 60.0  # how long an upload may take to start its run


@contextmanager
def operating(stack_name: str | None, endpoint_url: str | None, region: str | None) -> Iterator[Stack]:
    """The stack, with every expected failure (and any AWS error) told in one sentence, exit code 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    from recflow.operator.stack import OperatorError, aws_errors, default_stack_name, open_stack

    try:
        with aws_errors(endpoint_url):
            yield open_stack(stack_name or default_stack_name(), endpoint_url, region)
    except OperatorError as error:
        raise fail(str(error)) from None
    except ClientError as error:
        raise fail(f"AWS refused a call: {error}") from None
    except BotoCoreError as error:
        raise fail(f"the AWS SDK failed: {error}") from None


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def _phases_line(phase_seconds: dict[str, float]) -> str:
    return " · ".join(f"{phase} {_seconds(seconds)}" for phase, seconds in phase_seconds.items()) or "-"


def _progress_table(progress: Progress, run_id: str) -> Table:
    table = Table(title=f"Run {run_id}: {progress.status}", title_justify="left")
    table.add_column("Phase")
    table.add_column("State / job")
    table.add_column("Running", justify="right")
    table.add_column("Last poll")
    table.add_row(progress.phase or "-", progress.state or "-", "", "")
    for phase, job in progress.jobs.items():
        table.add_row(phase, f"{phase} job", _seconds(job["waited_seconds"]), f"{job['status']} (poll {job['polls']})")
    return table


def _follow(stack: Stack, execution_arn: str, run_id: str) -> str:
    """Follow the execution until it ends; print its phases; return its status."""
    import time

    from rich.live import Live

    from recflow.operator import runs

    console.print(f"Following run {run_id} (stack {stack.name})", highlight=False)
    last = None
    if live_output():
        with Live(console=console, refresh_per_second=4, transient=True) as live:
            for _, last in runs.follow(stack, execution_arn, time.sleep):
                live.update(_progress_table(last, run_id))
    else:  # one line per new phase and per change of a job's status: readable in CI logs
        shown: dict[str, str] = {}
        phase = None
        for _, last in runs.follow(stack, execution_arn, time.sleep):
            if last.phase and last.phase != phase:
                phase = last.phase
                console.print(f"  {phase}: {last.state}", highlight=False, markup=False)
            for job_phase, job in last.jobs.items():
                if shown.get(job_phase) != job["status"]:
                    shown[job_phase] = job["status"]
                    console.print(
                        f"    {job_phase} job {job['status']} after {job['waited_seconds']} s (poll {job['polls']})",
                        highlight=False,
                        markup=False,
                    )
    assert last is not None
    console.print(f"Phases: {_phases_line(last.phase_seconds)}", highlight=False, markup=False)
    colour = "green" if last.status == "SUCCEEDED" else "red"
    console.print(f"Run {run_id} [bold {colour}]{last.status}[/]", highlight=False)
    if last.failure:
        console.print(f"  {last.failure.sentence()}", highlight=False, markup=False, soft_wrap=True)
    return last.status


@aws.command("run")
def aws_run(
    raw: Annotated[
        list[Path] | None, typer.Option("--raw", help="Upload this file to raw/ (starts a run); repeatable.")
    ] = None,
    no_follow: Annotated[bool, typer.Option("--no-follow", help="Start the run and return.")] = False,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """Start a run: upload --raw files to raw/, or with none, run on the data already there. Follows it."""
    import time

    from recflow_lambda.naming import execution_arn

    from recflow.operator import inflight, runs

    with operating(stack, endpoint_url, region) as deployed:
        if raw:
            known = {e["executionArn"] for e in runs.list_executions(deployed, 50)}
            in_flight = inflight.run_in_flight(deployed)
            keys = runs.upload_raw(deployed, raw)
            for key in keys:
                console.print(f"Uploaded s3://{deployed.bucket}/{key}", highlight=False, markup=False)
            if in_flight:  # at most one run in flight: the uploads wait for it, then one follow-up covers them
                run_id, arn = in_flight["name"], in_flight["executionArn"]
                console.print(f"Run {run_id} is in flight: a follow-up run covers these uploads when it ends")
            else:  # the first upload starts a run; any upload it did not see waits for its follow-up
                execution = runs.wait_for_new_executions(deployed, known, 1, FOLLOW_TIMEOUT_SECONDS, time.sleep)
                run_id, arn = execution["name"], execution["executionArn"]
                console.print(f"Started run {run_id}", highlight=False, markup=False)
        else:
            run_id = runs.start_on_current_data(deployed)
            arn = execution_arn(deployed.state_machine_arn, run_id)
            console.print(f"Started run {run_id}", highlight=False, markup=False)
        if no_follow:
            return
        status = _follow(deployed, arn, run_id)
        while raw and (follow_up := inflight.follow_up_of(deployed, arn, FOLLOW_TIMEOUT_SECONDS, time.sleep)):
            run_id, arn = follow_up["name"], follow_up["executionArn"]
            console.print(f"Follow-up run {run_id} covers the uploads that arrived during the last run")
            status = _follow(deployed, arn, run_id)
    if status != "SUCCEEDED":
        raise typer.Exit(1)


def _runs_table(found: list[Run], title: str, phases: bool) -> Table:
    from recflow.execution_history import STATE_PHASES

    table = Table(title=title, title_justify="left")
    for column in ("Run", "Status", "Started", "Duration"):
        table.add_column(column, no_wrap=column == "Run")
    phase_names = list(dict.fromkeys(STATE_PHASES.values())) if phases else []
    for phase in phase_names:
        table.add_column(phase, justify="right")
    for column in ("Interactions", "Users", "Items", "Rejected"):
        table.add_column(column, justify="right")
    if not phases:
        table.add_column("Top rejection reasons")
    for run in found:
        report = run.report or {}
        reasons = sorted((report.get("rejects_by_reason") or {}).items(), key=lambda item: -item[1])[:3]
        row = [
            run.run_id,
            run.status + (f" ({run.error})" if run.error else ""),
            run.started.strftime("%Y-%m-%d %H:%M:%S"),
            _seconds(run.seconds),
            *(_seconds(run.phase_seconds.get(phase)) for phase in phase_names),
            *(str(report.get(count, "-")) for count in ("interactions", "users", "items", "rejected")),
        ]
        if not phases:
            row.append(", ".join(f"{reason} ×{lines}" for reason, lines in reasons) or "-")
        table.add_row(*row)
    return table


@aws.command("status")
def aws_status(
    follow: Annotated[
        bool, typer.Option("--follow", help="Follow the current (or --run) execution to its end.")
    ] = False,
    run: RunIdOption = None,
    last: Annotated[int, typer.Option("--last", min=1, help="How many recent runs to list.")] = 5,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """Recent runs with outcome, phase durations and counts; --follow watches one live. Exit 0 only on success."""
    from recflow.operator import runs

    with operating(stack, endpoint_url, region) as deployed:
        executions = [runs.describe(deployed, run)] if run else runs.list_executions(deployed, 1 if follow else last)
        if not executions:
            raise fail(f"stack {deployed.name!r} has no runs yet: start one with `recflow aws run --raw FILE`")
        if follow:
            status = _follow(deployed, executions[0]["executionArn"], executions[0]["name"])
        else:
            found = [runs.load_run(deployed, execution) for execution in executions]
            console.print(_runs_table(found, f"Runs of stack {deployed.name}", phases=True))
            _print_failures(found)
            status = found[0].status
    if status != "SUCCEEDED":
        raise typer.Exit(1)


@aws.command("runs")
def aws_runs(
    last: Annotated[int, typer.Option("--last", min=1, help="How many runs to list.")] = 10,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """The last N runs: status, start, duration, interactions, rejects and the top rejection reasons."""
    from recflow.operator import runs

    with operating(stack, endpoint_url, region) as deployed:
        found = runs.recent_runs(deployed, last)
        if not found:
            raise fail(f"stack {deployed.name!r} has no runs yet: start one with `recflow aws run --raw FILE`")
        console.print(_runs_table(found, f"Last {len(found)} runs of stack {deployed.name}", phases=False))
        _print_failures(found)


def _print_failures(found: list[Run]) -> None:
    """Below the table, each failed run's cause as one sentence: the table has no room for it."""
    for run in found:
        if run.failure:
            console.print(f"{run.run_id} {run.failure.sentence()}", highlight=False, markup=False, soft_wrap=True)


@aws.command("recs")
def aws_recs(
    user: Annotated[str | None, typer.Option("--user", help="User id (user recipes).")] = None,
    item: Annotated[str | None, typer.Option("--item", help="Item id (related-items recipes).")] = None,
    run: RunIdOption = None,
    realtime: Annotated[
        bool,
        typer.Option("--realtime", help="Ask the stack's campaign now (GetRecommendations) instead of a run's output."),
    ] = False,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """A user's (or an item's) recommended items and scores, from the latest run or --run, or --realtime from the
    stack's campaign (with the stack's filter, when it has one)."""
    from recflow.operator import recs

    if (user is None) == (item is None):
        raise fail("give exactly one of --user ID or --item ID")
    if realtime and run is not None:
        raise fail("--run reads a run's batch output and --realtime asks the campaign: give one of them")
    field_name, value = ("userId", user) if user is not None else ("itemId", item or "")
    who = f"user {user}" if user is not None else f"item {item}"
    with operating(stack, endpoint_url, region) as deployed:
        if realtime:
            asked = recs.ask_campaign(deployed, field_name, value)
            source = f"campaign {asked.campaign_arn.rsplit('/', 1)[-1]} (real time)"
            items, scores = asked.items, asked.scores
            where = f"({asked.campaign_arn}, filter {asked.filter_arn or 'none'}, {asked.recommendation_id})"
        else:
            found = recs.find(deployed, field_name, value, run)
            source = f"run {found.run_id}"
            items, scores = found.items, found.scores
            where = f"(s3://{deployed.bucket}/{found.key})"
    console.print(f"Recommendations for {who} from {source}", highlight=False, markup=False)
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("Item")
    table.add_column("Score", justify="right")
    for rank, (recommended, score) in enumerate(zip(items, scores, strict=False), start=1):
        table.add_row(str(rank), recommended, "-" if score is None else f"{score:.6g}")
    console.print(table)
    console.print(where, highlight=False, markup=False, soft_wrap=True)


@aws.command("metrics")
def aws_metrics(
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """Each solution version's offline metrics (GetSolutionMetrics), oldest first."""
    from recflow.operator.metrics import solution_metrics

    with operating(stack, endpoint_url, region) as deployed:
        versions = solution_metrics(deployed)
    if not versions:
        raise fail(f"solution {deployed.solution_arn} has no versions yet: no run has trained it")
    # One column per version, oldest first, so each metric reads over time from left to right.
    names = sorted({name for version in versions for name in version.metrics})
    console.print(f"Offline metrics of solution {deployed.solution_arn}", highlight=False, markup=False)
    table = Table()
    table.add_column("Metric", no_wrap=True)
    for version in versions:
        header = f"{version.arn.rsplit('/', 1)[-1]}\n{version.created:%Y-%m-%d %H:%M}\n{version.status}"
        table.add_column(header, justify="right", no_wrap=True)
    for name in names:
        table.add_row(name, *(f"{v.metrics[name]:.4f}" if name in v.metrics else "-" for v in versions))
    console.print(table)


@aws.command("dead-letters")
def aws_dead_letters(
    replay: Annotated[
        bool, typer.Option("--replay", help="Hand each event to the start_run function again, oldest first.")
    ] = False,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """Start-run events that failed every retry (the dead-letter queue); --replay retries them. Exit 1 if one fails."""
    from recflow.operator import dead_letters

    with operating(stack, endpoint_url, region) as deployed:
        letters = dead_letters.receive(deployed)
        if not letters:
            console.print(f"No dead letters: every start-run event of stack {deployed.name} was handled.")
            return
        table = Table(title=f"{len(letters)} dead letters of stack {deployed.name}", title_justify="left")
        for column in ("Sent", "Event", "Error"):
            table.add_column(column)
        for letter in letters:
            sent = letter.sent.strftime("%Y-%m-%d %H:%M:%S") if letter.sent else "-"
            table.add_row(sent, letter.describe(), letter.error or "-")
        console.print(table)
        if not replay:
            dead_letters.release(deployed, letters)
            console.print("Replay them with `recflow aws dead-letters --replay` once the cause is fixed.")
            return
        results = dead_letters.replay(deployed, letters)
    for result in results:
        console.print(f"{result.letter.describe()}: {result.outcome}", highlight=False, markup=False, soft_wrap=True)
    if not all(result.ok for result in results):
        raise typer.Exit(1)
