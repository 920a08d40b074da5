"""What every recflow command shares: the console, one-sentence failures, and the option parsers."""

from __future__ import annotations

import logging
import os
import sys
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
        "--fault",
        help="PHASE:OUTCOME, PHASE in etl|import|train|batch, OUTCOME in fail|stop|stall|throttle|busy "
        "(busy: the Personalize phases).",
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


class _TerminalLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler recflow's command line puts on the root logger (marked so a second setup replaces it)."""


def configure_logging() -> None:
    """What logging may print on the terminal, set once per command.

    Without RECFLOW_LOG_LEVEL only recflow's own warnings are printed: libraries stay silent, above all
    moto's state machine interpreter, which logs every failed state with the Lambda's stack trace (a
    failed run is reported as one sentence instead). RECFLOW_LOG_LEVEL=DEBUG (or INFO, WARNING…) prints
    every logger's records from that level on, moto's included, on stderr.
    """
    level = os.environ.get("RECFLOW_LOG_LEVEL", "").strip().upper()
    if not level:  # set but empty is unset: the offline runtime would pass "" on to Powertools as its level
        os.environ.pop("RECFLOW_LOG_LEVEL", None)
    elif not isinstance(logging.getLevelName(level), int):
        raise fail(f"RECFLOW_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {level!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _TerminalLogHandler)]:
        root.removeHandler(handler)
    handler = _TerminalLogHandler(sys.stderr)
    if level:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.setLevel(level)
    else:
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler.addFilter(lambda record: record.name == "recflow" or record.name.startswith("recflow."))
    # A handler on the root logger also keeps logging's last resort (warnings of any library to stderr) off;
    # Python warnings (Powertools' "No application metrics to publish") become records of py.warnings.
    root.addHandler(handler)
    logging.captureWarnings(True)


def live_output() -> bool:
    """Progress and live views only on a terminal, never in CI logs."""
    return console.is_terminal and not os.environ.get("CI")
