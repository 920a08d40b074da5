"""What every recflow command shares: the console, one-sentence failures, and the option parsers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from recflow.personalize_local.settings import Phase

console = Console()

RawOption = Annotated[
    list[Path],
    typer.Option(
        "--raw", help="Raw interactions file: delimited text with a header, JSON lines, Parquet; .gz; repeatable."
    ),
]
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


def fail(message: str, code: int = 2) -> typer.Exit:
    # soft_wrap: the terminal wraps the sentence, so paths and ARNs in it copy whole.
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def parse_faults(values: list[str]) -> dict[str, str]:
    faults = {}
    for value in values:
        phase, sep, outcome = value.partition(":")
        if not sep:
            raise fail(f"--fault takes PHASE:OUTCOME (for example train:fail), not {value!r}")
        faults[phase.strip()] = outcome.strip()
    return faults


def parse_parameters(values: list[str]) -> dict[str, str]:
    parameters = {}
    for value in values:
        name, sep, parameter_value = value.partition("=")
        if not sep or not name.strip():
            raise fail(f"--parameter takes Name=Value (for example NumResults=10), not {value!r}")
        parameters[name.strip()] = parameter_value
    return parameters


def parse_job_seconds(value: str | None) -> dict[str, float]:
    result: dict[str, float] = {}
    for item in filter(None, (value or "").split(",")):
        phase, sep, seconds = item.partition("=")
        try:
            result[phase.strip()] = float(seconds)
        except ValueError:
            raise fail(f"--job-seconds takes PHASE=SECONDS[,…] (for example train=900), not {item!r}") from None
        if not sep:
            raise fail(f"--job-seconds takes PHASE=SECONDS[,…], not {item!r}")
    return result


def seconds_by_phase(seconds: dict[str, float]) -> dict[Phase, float]:
    """--job-seconds for LocalSettings: the same check and sentence as the offline run's."""
    from recflow.personalize_local.settings import PHASES

    by_name: dict[str, Phase] = {phase: phase for phase in PHASES}
    by_phase: dict[Phase, float] = {}
    for name, value in seconds.items():
        phase = by_name.get(name)
        if phase is None or value < 0:
            raise fail(
                f"--job-seconds takes PHASE=SECONDS with PHASE in {', '.join(PHASES)} "
                f"and SECONDS ≥ 0, not {name}={value}"
            )
        by_phase[phase] = value
    return by_phase


def live_output() -> bool:
    """Progress and live views only on a terminal, never in CI logs."""
    return console.is_terminal and not os.environ.get("CI")
