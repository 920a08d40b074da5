"""Loading the report from a lake directory laid out like the S3 bucket, as `recflow local run` leaves it."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recflow.report.lake import load_lake
from recflow.report.model import PHASES, ReportError
from recflow.run_summary import Phase, Summary

RUN = "ratings-0123456789ab"


def _summary(run_id: str, **changes) -> Summary:
    fields = {
        "run_id": run_id,
        "status": "FAILED",
        "started": datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        "wall_seconds": 7.5,
        "state_transitions": 40,
        "phases": {
            "etl": Phase(status="SUCCEEDED", job_seconds=0.7, detected_after_seconds=0.7, polls=1),
            "import": Phase(status="ACTIVE", job_seconds=180.0, detected_after_seconds=321.0, polls=5),
            "train": Phase(status="CREATE FAILED", job_seconds=600.0, detected_after_seconds=960.0, polls=6),
            "batch": Phase(),
        },
        "counts": {"interactions": 3, "users": 2, "items": 2, "rejected": 1, "source_files": ["raw/r.dat"]},
        "failed_phase": "train",
        "error": "JobFailed",
        "cause": "Personalize training job failed: Injected fault",
        "phase_wall_seconds": {"etl": 0.8, "data": 0.3, "import": 0.3, "train": 0.3, "finish": 0.2},
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:machine:{run_id}",
    }
    return Summary(**{**fields, **changes})


def _lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    _summary(RUN).write(lake)
    transformed = lake / "transformed" / RUN
    (transformed / "interactions").mkdir(parents=True)
    (transformed / "interactions" / "part-00000.csv").write_text("USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n1,b,2\n2,a,3\n")
    report = {"lines_read": 5, "rejected": 1, "rejects_by_reason": {"rating is not a number": 1}, "interactions": 3}
    (transformed / "report.json").write_text(json.dumps(report))
    (lake / "rejects" / RUN).mkdir(parents=True)
    reject = {"source": "raw/r.dat", "line": "1\tb\tfive\t4", "reason": "rating is not a number"}
    (lake / "rejects" / RUN / "part-00000.json").write_text(json.dumps(reject) + "\n")
    return lake


def test_a_run_summary_reads_with_its_phases_counts_rejects_failure_and_data(tmp_path):
    lake = _lake(tmp_path)

    (run,) = load_lake(lake, 10).runs

    assert (run.run_id, run.status, run.seconds) == (RUN, "FAILED", 7.5)
    assert run.started == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert (run.failed_phase, run.error, run.cause) == (
        "train",
        "JobFailed",
        "Personalize training job failed: Injected fault",
    )
    assert [row.phase for row in run.phases] == list(PHASES)
    by_phase = {row.phase: row for row in run.phases}
    assert (by_phase["train"].job_status, by_phase["train"].job_seconds, by_phase["train"].polls) == (
        "CREATE FAILED",
        600.0,
        6,
    )
    assert by_phase["train"].seconds == 0.3
    # A job that never started shows no status; a phase without a job only its time
    assert by_phase["batch"].job_status is None and by_phase["batch"].seconds is None
    assert by_phase["data"].job_status is None and by_phase["data"].seconds == 0.3
    # The ETL report's counts win over the summary's; non-count fields are left out
    assert run.counts == {"lines_read": 5, "rejected": 1, "interactions": 3}
    assert [(r.reason, r.lines, r.example) for r in run.rejects] == [("rating is not a number", 1, "1\tb\tfive\t4")]
    assert run.data is not None and [(d.interactions, d.count) for d in run.data.per_user] == [(1, 1), (2, 1)]
    assert run.metrics == {}


def _set_mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_runs_come_newest_started_first_whatever_their_files_times_and_last_keeps_the_newest(tmp_path):
    # Given a run started a minute after the first one, whose summary.json was written before the first's
    lake = _lake(tmp_path)
    later = datetime(2026, 3, 1, 8, 1, tzinfo=UTC)
    newer = _summary("newer-run", started=later, status="SUCCEEDED", failed_phase=None, error=None)
    path = newer.model_copy(update={"metrics": {"coverage": 0.5}}).write(lake)
    _set_mtime(path, datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    _set_mtime(lake / "runs" / RUN / "summary.json", datetime(2026, 3, 1, 10, 0, tzinfo=UTC))

    report = load_lake(lake, 10)

    assert [(run.run_id, run.started) for run in report.runs] == [
        ("newer-run", later),
        (RUN, datetime(2026, 3, 1, 8, 0, tzinfo=UTC)),
    ]
    assert report.metric_names == ["coverage"]
    assert [run.run_id for run in load_lake(lake, 1).runs] == ["newer-run"]
    # A run without its transformed data still reads, with no data
    assert report.runs[0].data is None and report.runs[0].counts == {
        "interactions": 3,
        "users": 2,
        "items": 2,
        "rejected": 1,
    }


def test_a_summary_written_before_started_existed_is_dated_by_its_file_less_its_wall_time(tmp_path):
    # Given a summary.json without "started" (written at 08:00:30 after a 7.5 s run) next to one started at 08:00:25
    lake = _lake(tmp_path)
    old = lake / "runs" / RUN / "summary.json"
    fields = json.loads(old.read_text())
    del fields["started"]
    old.write_text(json.dumps(fields))
    _set_mtime(old, datetime(2026, 3, 1, 8, 0, 30, tzinfo=UTC))
    _summary("between", started=datetime(2026, 3, 1, 8, 0, 25, tzinfo=UTC)).write(lake)

    report = load_lake(lake, 10)

    # Then the old run started at 08:00:22.5 and comes after the run started at 08:00:25
    assert [(run.run_id, run.started) for run in report.runs] == [
        ("between", datetime(2026, 3, 1, 8, 0, 25, tzinfo=UTC)),
        (RUN, datetime(2026, 3, 1, 8, 0, 22, 500_000, tzinfo=UTC)),
    ]
    assert report.runs[1].counts["interactions"] == 3


def test_a_broken_summary_fails_the_report_only_when_it_is_among_the_runs_shown(tmp_path):
    lake = _lake(tmp_path)
    broken = lake / "runs" / "broken" / "summary.json"
    broken.parent.mkdir()
    broken.write_text("{}")
    _set_mtime(broken, datetime(2026, 3, 1, 7, 0, tzinfo=UTC))  # dated by its file: before RUN started

    assert [run.run_id for run in load_lake(lake, 1).runs] == [RUN]
    with pytest.raises(ReportError, match=r"broken/summary.json is not a run summary \(run_id: Field required\)"):
        load_lake(lake, 2)


def test_loading_the_lake_report_does_not_import_moto():
    # The report reads summary.json with the model alone: the offline runtime's summary module loads moto (seconds)
    code = "import sys, recflow.report.lake; print(sorted(m for m in sys.modules if m.split('.')[0] == 'moto'))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"


def test_a_missing_lake_one_without_runs_and_a_broken_summary_are_one_sentence_each(tmp_path):
    with pytest.raises(ReportError, match=r"lake directory .*nowhere does not exist: pass the --lake"):
        load_lake(tmp_path / "nowhere", 10)
    (tmp_path / "raw").mkdir()
    with pytest.raises(ReportError, match=r"has no runs \(no runs/\*/summary.json\): run `recflow local run"):
        load_lake(tmp_path, 10)
    broken = tmp_path / "runs" / "x" / "summary.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"run_id": "x"}')
    with pytest.raises(ReportError, match=r"summary.json is not a run summary \(status: Field required\)"):
        load_lake(tmp_path, 10)
