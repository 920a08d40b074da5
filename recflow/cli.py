"""recflow's command line: run the pipeline offline, generate data, serve local Personalize."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Amazon Personalize pipelines as an AWS SAM app, runnable offline.",
)
local = typer.Typer(no_args_is_help=True, help="Run the pipeline on this machine (no AWS account, no Docker).")
app.add_typer(local, name="local")
aws = typer.Typer(
    no_args_is_help=True,
    help="Operate a deployed stack (on AWS, or `recflow local serve` with --endpoint-url): runs, status, recs.",
)
app.add_typer(aws, name="aws")
console = Console()

if TYPE_CHECKING:  # the runtime imports moto and numpy: only commands that run the pipeline load it
    from recflow.offline.runtime import RunRequest
    from recflow.offline.server import LocalServer
    from recflow.offline.summary import Summary
    from recflow.operator.runs import Progress, Run
    from recflow.operator.stack import Stack
    from recflow.personalize_local.settings import Phase
    from recflow.synthetic import SyntheticStats

RawOption = Annotated[list[Path], typer.Option("--raw", help="Raw interactions file (HetRec layout); repeatable.")]
FaultOption = Annotated[
    list[str],
    typer.Option(
        "--fault", help="PHASE:OUTCOME, PHASE in etl|import|train|batch, OUTCOME in fail|stop|stall|throttle."
    ),
]

ParameterOption = Annotated[
    list[str],
    typer.Option(
        "--parameter",
        help="Template parameter Name=Value (like sam deploy --parameter-overrides); repeatable.",
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _parse_faults(values: list[str]) -> dict[str, str]:
    faults = {}
    for value in values:
        phase, sep, outcome = value.partition(":")
        if not sep:
            raise _fail(f"--fault takes PHASE:OUTCOME (for example train:fail), not {value!r}")
        faults[phase.strip()] = outcome.strip()
    return faults


def _parse_parameters(values: list[str]) -> dict[str, str]:
    parameters = {}
    for value in values:
        name, sep, parameter_value = value.partition("=")
        if not sep or not name.strip():
            raise _fail(f"--parameter takes Name=Value (for example NumResults=10), not {value!r}")
        parameters[name.strip()] = parameter_value
    return parameters


def _parse_job_seconds(value: str | None) -> dict[str, float]:
    result: dict[str, float] = {}
    for item in filter(None, (value or "").split(",")):
        phase, sep, seconds = item.partition("=")
        try:
            result[phase.strip()] = float(seconds)
        except ValueError:
            raise _fail(f"--job-seconds takes PHASE=SECONDS[,…] (for example train=900), not {item!r}") from None
        if not sep:
            raise _fail(f"--job-seconds takes PHASE=SECONDS[,…], not {item!r}")
    return result


def _seconds_by_phase(seconds: dict[str, float]) -> dict[Phase, float]:
    """--job-seconds for LocalSettings: the same check and sentence as the offline run's."""
    from recflow.personalize_local.settings import PHASES

    by_name: dict[str, Phase] = {phase: phase for phase in PHASES}
    by_phase: dict[Phase, float] = {}
    for name, value in seconds.items():
        phase = by_name.get(name)
        if phase is None or value < 0:
            raise _fail(
                f"--job-seconds takes PHASE=SECONDS with PHASE in {', '.join(PHASES)} "
                f"and SECONDS ≥ 0, not {name}={value}"
            )
        by_phase[phase] = value
    return by_phase


@local.command("run")
def local_run(
    raw: RawOption,
    lake: Annotated[Path, typer.Option(help="Local data lake directory (laid out like the S3 bucket).")],
    users: Annotated[
        Path | None, typer.Option(help='Batch input: {"userId": …} JSON lines. Default: every user.')
    ] = None,
    recipe: Annotated[str, typer.Option(help="Personalize recipe name.")] = "aws-user-personalization-v2",
    fault: FaultOption = [],  # noqa: B006 - typer reads the default, never mutates it
    job_seconds: Annotated[
        str | None, typer.Option(help="Simulated job durations, e.g. import=300,train=1800.")
    ] = None,
    time_scale: Annotated[float, typer.Option(help="Wall seconds per simulated second of waiting.")] = 0.001,
    min_rating: Annotated[str, typer.Option(help="Keep interactions rated at least this much.")] = "",
    num_results: Annotated[int, typer.Option(help="Recommendations per user.")] = 25,
    parameter: ParameterOption = [],  # noqa: B006 - typer reads the default, never mutates it
) -> None:
    """Run the pipeline on your own data: upload → ETL → import → training → batch recommendations."""
    from recflow.offline.runtime import RunRequest

    request = RunRequest(
        raw_files=raw,
        lake=lake,
        users_file=users,
        recipe=recipe,
        min_rating=min_rating,
        num_results=num_results,
        faults=_parse_faults(fault),
        job_seconds=_parse_job_seconds(job_seconds),
        time_scale=time_scale,
        parameters=_parse_parameters(parameter),
    )
    _run_and_report(request)


@local.command("serve")
def local_serve(
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 4566,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 also answers other machines.")
    ] = "127.0.0.1",
    stack_name: Annotated[str, typer.Option(help="Name of the deployed stack.")] = "recflow",
    parameter: ParameterOption = [],  # noqa: B006 - typer reads the default, never mutates it
    lake: Annotated[
        Path | None,
        typer.Option(help="Keep the bucket's objects in this directory: restored on start, written as they appear."),
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Real seconds per simulated second (waits, Personalize jobs); more than 0.")
    ] = 0.001,
    job_seconds: Annotated[
        str | None, typer.Option(help="Simulated job durations, e.g. import=300,train=1800.")
    ] = None,
) -> None:
    """Serve a local AWS account with the stack deployed: upload to raw/ with any client to start a run."""
    import time

    from recflow.offline.server import ServeError, local_server
    from recflow.offline.template import TemplateError
    from recflow.personalize_local.settings import LocalSettings

    if time_scale <= 0:
        raise _fail(f"--time-scale must be more than 0 when serving, not {time_scale}")
    settings = LocalSettings(job_seconds=_seconds_by_phase(_parse_job_seconds(job_seconds)))
    parameters = _parse_parameters(parameter)
    try:
        with ExitStack() as serving:
            serving.enter_context(_stopped_by_signals())
            with console.status(f"Deploying the stack {stack_name}…"):
                served = serving.enter_context(
                    local_server(
                        host,
                        port,
                        settings,
                        stack_name=stack_name,
                        parameters=parameters,
                        lake_dir=lake,
                        time_scale=time_scale,
                    )
                )
            _print_served(served, lake)
            reported = 0
            while True:  # until Ctrl-C; say why an upload started no run, as the run's own error
                time.sleep(0.5)
                new = served.trigger_errors[reported:]
                for error in new:
                    console.print(f"[bold red]an upload started no run:[/] {error}", highlight=False)
                reported += len(new)
    except (ServeError, TemplateError) as error:
        raise _fail(str(error)) from None
    except KeyboardInterrupt:
        console.print(f"Stopped{f'; the lake is in {lake}' if lake else ''}.", highlight=False)


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM (docker stop, kill) stops like Ctrl-C; so does SIGINT where the shell started the server
    in the background, which ignores SIGINT for it."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _print_served(served: LocalServer, lake: Path | None) -> None:
    stack = served.stack
    console.print(
        f"Stack [bold]{stack.name}[/] {stack.status} in {served.startup_seconds:.1f} s"
        + (f"; {served.restored} objects restored from {lake}" if lake else ""),
        highlight=False,
    )
    outputs = Table("output", title=f"Outputs of {stack.name}")
    outputs.add_column("value", overflow="fold")  # whole ARNs, also where the terminal is narrow
    for key, value in sorted(stack.outputs.items()):
        outputs.add_row(key, value)
    console.print(outputs)
    bucket = stack.outputs.get("DataBucketName", "<bucket>")
    console.print(
        f"Serving on [bold]{served.url}[/]  (Ctrl-C stops)\n"
        f"  export AWS_ENDPOINT_URL={served.url} AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x "
        f"AWS_DEFAULT_REGION=us-east-1\n"
        f"  aws s3 cp FILE s3://{bucket}/raw/   # starts a run",
        highlight=False,
    )


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the synthetic data and the lake go.")] = Path(".demo"),
    users: Annotated[int, typer.Option(help="Synthetic users.")] = 2100,
    items: Annotated[int, typer.Option(help="Synthetic items.")] = 10000,
    interactions: Annotated[int, typer.Option(help="Synthetic interactions.")] = 850_000,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic data.")] = 7,
) -> None:
    """Generate a HetRec-sized synthetic data set and run the whole pipeline on it offline."""
    from recflow.offline.runtime import RunRequest
    from recflow.synthetic import generate

    raw = workdir / "data" / "user_ratedmovies-timestamps.dat"
    raw.parent.mkdir(parents=True, exist_ok=True)
    with console.status("Generating synthetic interactions…"):
        stats = generate(raw, users=users, items=items, interactions=interactions, seed=seed)
    console.print(f"[bold]Data[/] {_describe(stats)}", highlight=False)
    _run_and_report(RunRequest(raw_files=[raw], lake=workdir / "lake"))


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="File to write (HetRec layout).")],
    users: int = 2100,
    items: int = 10000,
    interactions: int = 850_000,
    seed: int = 7,
) -> None:
    """Write a synthetic interactions file in the HetRec layout."""
    from recflow.synthetic import generate as generate_file

    out.parent.mkdir(parents=True, exist_ok=True)
    stats = generate_file(out, users=users, items=items, interactions=interactions, seed=seed)
    console.print(_describe(stats), highlight=False)


def _describe(stats: SyntheticStats) -> str:
    return (
        f"{stats.path}: {stats.interactions:,} interactions, {stats.users:,} users, {stats.items:,} items; "
        f"the top 1% of items get {stats.top_1pct_items_share:.0%} of the interactions"
    )


def _run_and_report(request: RunRequest) -> None:
    from recflow.offline.runtime import OfflineRunError, run
    from recflow.offline.template import TemplateError

    entered: list[str] = []
    with console.status("Uploading to raw/…") as status:

        def on_state(name: str) -> None:
            if name not in entered:
                console.print(f"  [green]▸[/] {name}", highlight=False)
            entered.append(name)
            status.update(f"{name} ({entered.count(name)}×)" if entered.count(name) > 1 else name)

        try:
            summary = run(request, on_state)
        except (OfflineRunError, TemplateError) as error:
            raise _fail(str(error)) from None
    _report(summary, request.lake)
    if summary.status != "SUCCEEDED":
        cause = (summary.cause or "no cause was reported").rstrip(".")
        where = request.lake / "runs" / summary.run_id / "summary.json"
        raise _fail(
            f"run {summary.run_id} {summary.status.lower()} in phase {summary.failed_phase or 'unknown'}: "
            f"{summary.error}: {cause}. Details: {where}",
            code=1,
        )


def _report(summary: Summary, lake: Path) -> None:
    console.print()
    console.print(
        f"[bold]Run[/] {summary.run_id}: [bold]{summary.status}[/] in {summary.wall_seconds:.1f} s "
        f"({summary.state_transitions} state transitions)",
        highlight=False,
    )
    phases = Table("phase", "status", "job s", "detected after s", "polls", title="Phases (pipeline time)")
    for name, phase in summary.phases.items():
        phases.add_row(
            name, phase.status, _num(phase.job_seconds), _num(phase.detected_after_seconds), str(phase.polls)
        )
    console.print(phases)
    if summary.counts:
        keys = [
            "lines_read",
            "interactions",
            "users",
            "items",
            "rejected",
            "duplicates_dropped",
            "below_min_rating",
        ]
        console.print("[bold]Counts[/] " + ", ".join(f"{k}={summary.counts[k]:,}" for k in keys if k in summary.counts))
    if summary.metrics:
        console.print("[bold]Metrics[/] " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(summary.metrics.items())))
    for key in summary.recommendations:
        path = lake / key
        console.print(f"[bold]Recommendations[/] {path}", highlight=False)
        first = json.loads(path.read_text().splitlines()[0])
        who = first["input"]
        items = (first.get("output") or {}).get("recommendedItems", [])[:10]
        console.print(f"  top 10 for {json.dumps(who)}: {', '.join(items)}", highlight=False)
    console.print(f"[bold]Summary[/] {lake / 'runs' / summary.run_id / 'summary.json'}", highlight=False)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


DEFAULT_ASL = Path("statemachine/pipeline.asl.json")


@app.command()
def diagram(
    asl: Annotated[Path, typer.Option(help="The state machine definition (ASL JSON).")] = DEFAULT_ASL,
    check: Annotated[
        Path | None, typer.Option(help="Exit 1 when this file's diagram differs from the definition's.")
    ] = None,
    write: Annotated[Path | None, typer.Option(help="Replace the diagram between this file's markers.")] = None,
) -> None:
    """Print the state machine as a Mermaid flowchart; check or update the README's copy of it."""
    from recflow import diagram as mermaid_diagram

    if check is not None and write is not None:
        raise _fail("use --check or --write, not both")
    try:
        block = mermaid_diagram.markdown_block(mermaid_diagram.load_definition(asl))
        if check is not None:
            if mermaid_diagram.readme_block(mermaid_diagram.read_text(check), str(check)) != block:
                rerun = f"recflow diagram --write {check}" + ("" if asl == DEFAULT_ASL else f" --asl {asl}")
                raise _fail(f"{check}'s state machine diagram is out of date: run `{rerun}`", code=1)
            console.print(f"{check}'s state machine diagram is up to date.", highlight=False, markup=False)
        elif write is not None:
            text = mermaid_diagram.read_text(write)
            updated = mermaid_diagram.replace_readme_block(text, block, str(write))
            if updated != text:
                write.write_text(updated, encoding="utf-8")
            state = "updated" if updated != text else "already up to date"
            console.print(f"{write}'s state machine diagram {state}.", highlight=False, markup=False)
        else:
            typer.echo(block, nl=False)
    except mermaid_diagram.DiagramError as error:
        raise _fail(str(error)) from None


# `recflow aws …`: the operator's tool. Every command takes the same connection options.
StackOption = Annotated[
    str | None,
    typer.Option("--stack", help="Stack name [default: samconfig.toml's stack_name, else recflow]."),
]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="AWS endpoint, e.g. recflow local serve's URL [default: AWS_ENDPOINT_URL]."),
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region [default: boto3's configuration].")]
RunIdOption = Annotated[str | None, typer.Option("--run", help="Run id (the execution name).")]
FOLLOW_TIMEOUT_SECONDS = 60.0  # how long an upload may take to start its run


@contextmanager
def _operating(stack_name: str | None, endpoint_url: str | None, region: str | None) -> Iterator[Stack]:
    """The stack, with every expected failure (and any AWS error) told in one sentence, exit code 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    from recflow.operator.stack import OperatorError, aws_errors, default_stack_name, open_stack

    try:
        with aws_errors(endpoint_url):
            yield open_stack(stack_name or default_stack_name(), endpoint_url, region)
    except OperatorError as error:
        raise _fail(str(error)) from None
    except ClientError as error:
        raise _fail(f"AWS refused a call: {error}") from None
    except BotoCoreError as error:
        raise _fail(f"the AWS SDK failed: {error}") from None


def _live_output() -> bool:
    import os

    return console.is_terminal and not os.environ.get("CI")


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
    if _live_output():
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

    from recflow.operator import runs

    with _operating(stack, endpoint_url, region) as deployed:
        if raw:
            known = {e["executionArn"] for e in runs.list_executions(deployed, 50)}
            keys = runs.upload_raw(deployed, raw)
            for key in keys:
                console.print(f"Uploaded s3://{deployed.bucket}/{key}", highlight=False, markup=False)
            # Each upload starts a run over all of raw/: the newest one sees every file.
            execution = runs.wait_for_new_executions(deployed, known, len(keys), FOLLOW_TIMEOUT_SECONDS, time.sleep)
            run_id, arn = execution["name"], execution["executionArn"]
        else:
            run_id = runs.start_on_current_data(deployed)
            arn = execution_arn(deployed.state_machine_arn, run_id)
        console.print(f"Started run {run_id}", highlight=False, markup=False)
        if no_follow:
            return
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

    with _operating(stack, endpoint_url, region) as deployed:
        executions = [runs.describe(deployed, run)] if run else runs.list_executions(deployed, 1 if follow else last)
        if not executions:
            raise _fail(f"stack {deployed.name!r} has no runs yet: start one with `recflow aws run --raw FILE`")
        if follow:
            status = _follow(deployed, executions[0]["executionArn"], executions[0]["name"])
        else:
            found = [runs.load_run(deployed, execution) for execution in executions]
            console.print(_runs_table(found, f"Runs of stack {deployed.name}", phases=True))
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

    with _operating(stack, endpoint_url, region) as deployed:
        found = runs.recent_runs(deployed, last)
        if not found:
            raise _fail(f"stack {deployed.name!r} has no runs yet: start one with `recflow aws run --raw FILE`")
        console.print(_runs_table(found, f"Last {len(found)} runs of stack {deployed.name}", phases=False))


@aws.command("recs")
def aws_recs(
    user: Annotated[str | None, typer.Option("--user", help="User id (user recipes).")] = None,
    item: Annotated[str | None, typer.Option("--item", help="Item id (related-items recipes).")] = None,
    run: RunIdOption = None,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """A user's (or an item's) recommended items and scores, from the latest run or --run."""
    from recflow.operator import recs

    if (user is None) == (item is None):
        raise _fail("give exactly one of --user ID or --item ID")
    with _operating(stack, endpoint_url, region) as deployed:
        found = recs.find(deployed, "userId" if user is not None else "itemId", user or item or "", run)
    who = f"user {user}" if user is not None else f"item {item}"
    console.print(f"Recommendations for {who} from run {found.run_id}", highlight=False, markup=False)
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("Item")
    table.add_column("Score", justify="right")
    for rank, (recommended, score) in enumerate(zip(found.items, found.scores, strict=False), start=1):
        table.add_row(str(rank), recommended, "-" if score is None else f"{score:.6g}")
    console.print(table)
    console.print(f"(s3://{deployed.bucket}/{found.key})", highlight=False, markup=False, soft_wrap=True)


@aws.command("metrics")
def aws_metrics(
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """Each solution version's offline metrics (GetSolutionMetrics), oldest first."""
    from recflow.operator.metrics import solution_metrics

    with _operating(stack, endpoint_url, region) as deployed:
        versions = solution_metrics(deployed)
    if not versions:
        raise _fail(f"solution {deployed.solution_arn} has no versions yet: no run has trained it")
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

if __name__ == "__main__":
    app()
