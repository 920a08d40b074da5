"""Render the report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from recflow.report import plots
from recflow.report.model import Report, ReportError

PAGE = "index.html"


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("recflow.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["seconds"] = lambda value: "–" if value is None else f"{value:,.1f} s"
    environment.filters["number"] = lambda value: "–" if value is None else f"{value:,}"
    return environment


def _inline(svg: str | None) -> Markup | None:
    # matplotlib's own output, not user data: everything else on the page is escaped.
    return None if svg is None else Markup(svg)


def render(report: Report) -> str:
    names = report.metric_names
    run_plots = {
        run.run_id: {
            "per_user": _inline(plots.degrees(run.data.per_user, "user")),
            "per_item": _inline(plots.degrees(run.data.per_item, "item")),
            "popularity": _inline(plots.popularity(run.data)),
        }
        for run in report.runs
        if run.data is not None
    }
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            metric_names=names,
            metrics_plot=_inline(plots.metrics(report.runs, names)),
            run_plots=run_plots,
        )
    )


def write(report: Report, out: Path) -> Path:
    """Write ``out/index.html``; an out directory that cannot be written is a ReportError."""
    page = out / PAGE
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out} is a file, not a directory: pass a directory for index.html")
    html = render(report)
    try:
        out.mkdir(parents=True, exist_ok=True)
        page.write_text(html, encoding="utf-8")
    except OSError as error:
        raise ReportError(
            f"cannot write {page}: {error.strerror or error}; pass an --out directory you can write to"
        ) from None
    return page
