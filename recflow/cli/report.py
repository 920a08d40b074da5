"""`recflow local report` and `recflow aws report`: one self-contained HTML page of a lake's runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recflow.cli.aws import EndpointOption, RegionOption, StackOption, operating
from recflow.cli.common import console, fail

if TYPE_CHECKING:
    from recflow.report.model import Report

OutOption = Annotated[Path, typer.Option("--out", help="Directory to write index.html into (created if missing).")]
LastOption = Annotated[int, typer.Option("--last", min=1, help="How many of the newest runs to show.")]


def _write(report: Report, out: Path) -> None:
    from recflow.report.model import ReportError
    from recflow.report.render import write

    try:
        page = write(report, out)
    except ReportError as error:
        raise fail(str(error)) from None
    runs = len(report.runs)
    console.print(f"Wrote the report of {runs} run{'s' * (runs != 1)} to", highlight=False, markup=False)
    console.print(str(page.resolve()), highlight=False, markup=False, soft_wrap=True)


def local_report(
    lake: Annotated[Path, typer.Option(help="The lake directory of `recflow local run`.")],
    out: OutOption,
    last: LastOption = 20,
) -> None:
    """Write one HTML page of the lake's runs: phases, counts, rejects, metrics and plots; no server needed."""
    from recflow.report.lake import load_lake
    from recflow.report.model import ReportError

    try:
        report = load_lake(lake, last)
    except ReportError as error:
        raise fail(str(error)) from None
    _write(report, out)


def aws_report(
    out: OutOption,
    last: LastOption = 20,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
) -> None:
    """Write one HTML page of the deployed stack's runs: phases, counts, rejects, metrics and plots."""
    from recflow.report.model import ReportError
    from recflow.report.stack import load_stack

    with operating(stack, endpoint_url, region) as deployed:
        try:
            report = load_stack(deployed, last)
        except ReportError as error:
            raise fail(str(error)) from None
    _write(report, out)
