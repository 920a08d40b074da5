"""`recflow local …`, `recflow demo`, `recflow generate`: the pipeline on this machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from recflow.cli.common import (
    FaultOption,
    ParameterOption,
    RawOption,
    console,
    fail,
    live_output,
    parse_faults,
    parse_job_seconds,
    parse_parameters,
    seconds_by_phase,
)
from recflow.progress import NO_PROGRESS, TerminalProgress

if TYPE_CHECKING:  # the runtime imports moto and numpy: only commands that run the pipeline load it
    from recflow.offline.runtime import RunRequest
    from recflow.offline.server import LocalServer
    from recflow.offline.summary import Summary
    from recflow.synthetic import SyntheticStats

local = typer.Typer(no_args_is_help=True, help="Run the pipeline on this machine (no AWS account, no Docker).")


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
    time_scale: Annotated[
        float, typer.Option(help="Wall seconds per simulated second of waiting (0: waits take no time).")
    ] = 0.0,
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
        faults=parse_faults(fault),
        job_seconds=parse_job_seconds(job_seconds),
        time_scale=time_scale,
        parameters=parse_parameters(parameter),
    )
    with _live_progress("Uploading to raw/…") as live:
        summary = _run(request, live)
    _report(summary, request.lake)


@local.command("serve")
def local_serve(
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 4566,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 also answers other machines.")] = "127.0.0.1",
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
        raise fail(f"--time-scale must be more than 0 when serving, not {time_scale}")
    settings = LocalSettings(job_seconds=seconds_by_phase(parse_job_seconds(job_seconds)))
    parameters = parse_parameters(parameter)
    try:
        with ExitStack() as serving:
            serving.enter_context(_stopped_by_signals())
            with console.status(f"Deploying the stack {stack_name}…") if live_output() else nullcontext():
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
        raise fail(str(error)) from None
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
    request = RunRequest(raw_files=[raw], lake=workdir / "lake")
    with _live_progress("Generating synthetic interactions…") as live:
        stats = generate(
            raw, users=users, items=items, interactions=interactions, seed=seed, progress=live or NO_PROGRESS
        )
        console.print(f"[bold]Data[/] {_describe(stats)}", highlight=False)
        summary = _run(request, live)
    _report(summary, request.lake)


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
    with _live_progress("Generating synthetic interactions…") as live:
        stats = generate_file(
            out, users=users, items=items, interactions=interactions, seed=seed, progress=live or NO_PROGRESS
        )
    console.print(_describe(stats), highlight=False)


def _describe(stats: SyntheticStats) -> str:
    return (
        f"{stats.path}: {stats.interactions:,} interactions, {stats.users:,} users, {stats.items:,} items; "
        f"the top 1% of items get {stats.top_1pct_items_share:.0%} of the interactions"
    )


def _live_progress(status: str) -> AbstractContextManager[TerminalProgress | None]:
    """Progress bars under a spinner line on a terminal; None where the output is a log (no TTY, or CI)."""
    return TerminalProgress(console, status) if live_output() else nullcontext()


def _run(request: RunRequest, live: TerminalProgress | None) -> Summary:
    """Run the pipeline, printing each state when first entered (and showing progress on a terminal)."""
    from recflow.offline.runtime import OfflineRunError, run
    from recflow.offline.template import TemplateError

    entered: list[str] = []
    if live is not None:
        live.status("Uploading to raw/…")

    def on_state(name: str) -> None:
        if name not in entered:
            console.print(f"  [green]▸[/] {name}", highlight=False)
        entered.append(name)
        if live is not None:
            live.status(f"{name} ({entered.count(name)}×)" if entered.count(name) > 1 else name)

    try:
        return run(request, on_state, live or NO_PROGRESS)
    except (OfflineRunError, TemplateError) as error:
        raise fail(str(error)) from None


def _report(summary: Summary, lake: Path) -> None:
    """Print the run's summary; exit 1 naming the phase and cause unless it succeeded."""
    _print_summary(summary, lake)
    if summary.status != "SUCCEEDED":
        cause = (summary.cause or "no cause was reported").rstrip(".")
        where = lake / "runs" / summary.run_id / "summary.json"
        raise fail(
            f"run {summary.run_id} {summary.status.lower()} in phase {summary.failed_phase or 'unknown'}: "
            f"{summary.error}: {cause}. Details: {where}",
            code=1,
        )


def _print_summary(summary: Summary, lake: Path) -> None:
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
    if summary.training.get("decision"):
        console.print("[bold]Model[/] " + escape(str(summary.training["decision"])))
    if summary.lambdas:  # a generated function name is <stack>-<LogicalId>-<suffix>: the logical id says which
        console.print(
            "[bold]Lambdas[/] (peak/limit) "
            + ", ".join(
                f"{(name.split('-')[-2] if name.count('-') >= 2 else name).removesuffix('Function')} "
                f"{u.max_memory_mb:.0f}/{u.memory_limit_mb} MB {u.max_seconds:.1f}/{u.timeout_seconds} s"
                for name, u in summary.lambdas.items()
            ),
            highlight=False,
        )
    if summary.largest_payload:
        largest = summary.largest_payload
        console.print(
            f"[bold]Largest payload[/] {largest.bytes:,} of {largest.limit_bytes:,} bytes "
            f"({largest.kind} of {largest.state})",
            highlight=False,
        )
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
