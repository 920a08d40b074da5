"""The report's plots, drawn with matplotlib's object API (no pyplot, no display) as SVG markup to inline."""

from __future__ import annotations

import io
from itertools import accumulate

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from recflow.report.model import Degree, RunData, RunReport

_SIZE = (6.4, 3.6)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    # Text as paths: the page needs no font. No date: the same data draws the same picture.
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: drop the XML prolog and DOCTYPE


def _axes(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=_SIZE)  # savefig's tight bounding box lays it out: one pass fewer than "constrained"
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=11)
    axes.grid(True, which="major", alpha=0.3)
    return figure, axes


def degrees(found: list[Degree], who: str) -> str:
    """How many users (or items) have each number of interactions, log-log: the long tail at a glance."""
    figure, axes = _axes(f"Interactions per {who}")
    axes.loglog([d.interactions for d in found], [d.count for d in found], "o", markersize=4, color="#1c7ed6")
    axes.set_xlabel("interactions")
    axes.set_ylabel(f"{who}s with that many")
    _plain_log_labels(axes, "x")
    _plain_log_labels(axes, "y")
    return _svg(figure)


def _plain_log_labels(axes: Axes, which: str) -> None:
    """20, 300 instead of 2×10¹, 3×10²; minor ticks labelled only when a decade or less is shown."""
    axis = axes.xaxis if which == "x" else axes.yaxis
    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))


def popularity(data: RunData) -> str | None:
    """Share of interactions and of recommendations on items up to each popularity (cumulative, log x)."""
    levels = [level for level in data.popularity if level.interactions > 0]
    recommended = sum(level.recommended for level in levels)
    if not levels or not recommended:
        return None
    x = [level.interactions for level in levels]
    interactions = list(accumulate(level.interactions * level.items for level in levels))
    recommendations = list(accumulate(level.recommended for level in levels))
    figure, axes = _axes("Popularity of recommended vs interacted items")
    axes.step(x, [n / interactions[-1] for n in interactions], where="post", label="interactions", color="#868e96")
    axes.step(x, [n / recommended for n in recommendations], where="post", label="recommendations", color="#e8590c")
    axes.set_xscale("log")
    _plain_log_labels(axes, "x")
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("item popularity (interactions of the item)")
    axes.set_ylabel("share on items at most this popular")
    axes.legend(loc="upper left", frameon=False)
    return _svg(figure)


def metrics(runs: list[RunReport], names: list[str]) -> str | None:
    """Each offline metric of each run that has them, oldest run first."""
    scored = [run for run in reversed(runs) if run.metrics]
    if not scored:
        return None
    figure = Figure(figsize=(_SIZE[0], _SIZE[1] + 0.4 * len(names) / 2), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title("Offline metrics across runs", fontsize=11)
    axes.grid(True, alpha=0.3)
    positions = list(range(len(scored)))
    for name in names:
        points = [(i, run.metrics[name]) for i, run in zip(positions, scored, strict=True) if name in run.metrics]
        axes.plot([i for i, _ in points], [value for _, value in points], "o-", markersize=4, label=name)
    axes.set_xticks(positions, [run.run_id for run in scored], rotation=20, ha="right", fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("value")
    figure.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return _svg(figure)
