"""The page: everything from the data escaped, nothing fetched, one inline SVG per plot; write errors."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recflow.report.model import (
    Degree,
    PhaseRow,
    PopularityLevel,
    RejectReason,
    Report,
    ReportError,
    RunData,
    RunReport,
)
from recflow.report.render import render, write

DATA = RunData(
    per_user=[Degree(interactions=2, count=5), Degree(interactions=10, count=1)],
    popularity=[
        PopularityLevel(interactions=1, items=4, recommended=1, recommended_items=1),
        PopularityLevel(interactions=6, items=1, recommended=5, recommended_items=1),
    ],
)


def _report(**run_changes) -> Report:
    run = RunReport(
        run_id="ratings-abc",
        status="SUCCEEDED",
        started=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        seconds=12.5,
        phases=[PhaseRow(phase="train", seconds=1.3, job_status="ACTIVE", job_seconds=600.0, polls=7)],
        counts={"interactions": 12_345},
        rejects=[RejectReason(reason="rating is not a number", lines=2, example='1\t<script>alert("x")</script>')],
        metrics={"coverage": 0.25, "precision_at_5": 0.125},
        data=DATA,
    )
    return Report(
        title="lake /tmp/<lake>",
        generated=datetime(2026, 11, 30, tzinfo=UTC),
        runs=[run.model_copy(update=run_changes)],
    )


def test_the_page_shows_the_values_escaped_and_fetches_nothing():
    html = render(_report())

    assert "<script" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "lake /tmp/&lt;lake&gt;" in html
    assert re.search(r"<td>train</td>\s*<td class=\"num\">1.3 s</td>\s*<td>ACTIVE</td>", html)
    assert "12,345" in html and "0.1250" in html
    # Every reference is within the page (an anchor, or an SVG's own glyphs and markers): nothing from elsewhere
    references = re.findall(r"(?:src|href)=\"([^\"]*)\"", html)
    assert "#run-ratings-abc" in references and all(reference.startswith("#") for reference in references)
    assert all(target.startswith("#") for target in re.findall(r"url\(([^)]*)\)", html)) and "@import" not in html
    # Four plots inline: metrics across runs, per user, per item, popularity
    assert html.count("<svg") == 4 and "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_a_run_without_metrics_data_or_recommendations_says_so_and_draws_only_what_it_has():
    no_recs = DATA.model_copy(
        update={"popularity": [PopularityLevel(interactions=1, items=4, recommended=0, recommended_items=0)]}
    )
    html = render(
        _report(metrics={}, data=no_recs, rejects=[], status="FAILED", failed_phase="batch", error="JobFailed")
    )

    assert "No run has trained a solution version yet." in html
    assert "No line was rejected." in html
    assert "No recommendations: the run wrote no batch output." in html
    assert "Failed in phase batch: JobFailed" in html
    assert html.count("<svg") == 2  # per user and per item


def test_write_creates_the_directory_and_refuses_a_file_as_out(tmp_path):
    page = write(_report(metrics={}, data=None), tmp_path / "new" / "report")
    assert page == tmp_path / "new" / "report" / "index.html" and page.read_text().startswith("<!DOCTYPE html>")
    (tmp_path / "taken").write_text("")
    with pytest.raises(ReportError, match=r"--out .*taken is a file, not a directory"):
        write(_report(), tmp_path / "taken")
    # A directory nobody can create (even root: /proc takes no new entries) is one sentence too
    with pytest.raises(ReportError, match=r"cannot write /proc/recflow-report/index.html: .*; pass an --out directory"):
        write(_report(metrics={}, data=None), Path("/proc/recflow-report"))
