"""Failed runs through the whole offline pipeline: bad input is refused as a whole with one sentence, faults
end the run naming phase and reason (the notification says the same), nothing earlier is lost, and no log
holds a user or an item id."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.sns.models import SNSBackend
from typer.testing import CliRunner

from recflow.cli import app
from recflow.offline.runtime import RunRequest, run
from recflow.offline.summary import Summary
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e
runner = CliRunner()
SENTINEL = "SENTINEL"  # in every user and item id: no log line may hold it
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Interactions whose ids all hold SENTINEL, and a few lines the ETL rejects (under MaxRejectedShare)."""
    folder = tmp_path_factory.mktemp("data")
    generate(folder / "plain.dat", users=60, items=300, interactions=6_000, seed=5)
    header, *lines = (folder / "plain.dat").read_text().splitlines()
    rows = [line.split("\t") for line in lines]
    body = [f"u-{SENTINEL}-{u}\ti-{SENTINEL}-{i}\t{r}\t{t}" for u, i, r, t in rows]
    body += [f"u-{SENTINEL}-{n}\ti-{SENTINEL}-{n}\tfive\t1162160236000" for n in range(20)]  # rejected lines
    path = folder / "ratings.dat"
    path.write_text("\n".join([header, *body]) + "\n")
    return path


class Records(logging.Handler):
    """Every record logged, formatted as its handler would print it (Powertools: JSON with the extra fields)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def notifications() -> Iterator[list[str]]:
    """The messages moto's SNS received (the NotifyFailure Lambda publishes to the stack's topic)."""
    sent: list[str] = []
    publish = SNSBackend.publish

    def recording(self: SNSBackend, message: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(message)
        return publish(self, message, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SNSBackend, "publish", recording)
        yield sent


@pytest.fixture(scope="module")
def logged(raw_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Summary, list[str]]]:
    """A successful run's lake, its summary, and every log record of the run at DEBUG level."""
    from recflow_lambda.observability import logger

    records = Records()
    records.setFormatter(logger.registered_formatter)  # the handlers' JSON, extra fields included
    root = logging.getLogger()
    level, handler_level = root.level, logger.log_level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    lake = tmp_path_factory.mktemp("prior") / "lake"
    try:
        summary = run(RunRequest(raw_files=[raw_file], lake=lake, time_scale=0))
    finally:
        root.removeHandler(records)
        root.setLevel(level)
        logger.removeHandler(records)
        logger.setLevel(handler_level)
    assert summary.status == "SUCCEEDED", summary.cause
    yield lake, summary, records.lines


@pytest.fixture
def prior_lake(logged: tuple[Path, Summary, list[str]], tmp_path: Path) -> Path:
    """A copy of a lake with one successful run's recommendations in it."""
    return Path(shutil.copytree(logged[0], tmp_path / "lake"))


# What a run reads and writes in the lake (the pipeline's own bookkeeping elsewhere may change).
DATA_PREFIXES = ("raw/", "transformed/", "rejects/", "batch_users_input/", "recommendations/", "runs/")


def files(lake: Path) -> dict[str, bytes]:
    """The lake's data files, key -> bytes."""
    found = {path.relative_to(lake).as_posix(): path for path in lake.rglob("*") if path.is_file()}
    return {key: path.read_bytes() for key, path in found.items() if key.startswith(DATA_PREFIXES)}


def assert_nothing_lost(before: dict[str, bytes], lake: Path, run_id: str) -> dict[str, bytes]:
    """Every earlier file is byte-identical (raw files, recommendations/, latest.json, earlier runs); the
    failed run's own files are under its run id, besides its upload to raw/. Returns the new files."""
    after = files(lake)
    assert {key: after.get(key) for key in before} == before
    new = {key: body for key, body in after.items() if key not in before}
    assert [key for key in new if not key.startswith("raw/") and run_id not in key.split("/")] == []
    return new


def summary_of(lake: Path, run_id: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((lake / "runs" / run_id / "summary.json").read_text())
    return summary


def error_lines(output: str) -> list[str]:
    """The error sentence(s) of a command's output, unwrapped."""
    text = " ".join(output.split())
    return [part.strip() for part in text.split("error:")[1:]]


# --- whole-run rejections -----------------------------------------------------------------------------

HETREC_HEADER = "userID\tmovieID\trating\ttimestamp\n"


def _small(path: Path) -> None:
    path.write_text(HETREC_HEADER + "".join(f"u{u}\ti{i}\t4\t1162160236000\n" for u in range(10) for i in range(5)))


REJECTED_FILES = {
    "empty": ("empty.csv", lambda path: path.write_bytes(b""), "raw/empty.csv is empty"),
    "header only": (
        "header.dat",
        lambda path: path.write_text(HETREC_HEADER),
        "raw/header.dat has a header line but no data lines",
    ),
    "below the minimums": (
        "small.dat",
        _small,
        "has 50 interactions after the ETL of raw/small.dat (0 lines rejected); Amazon Personalize needs at least 1000",
    ),
}


@pytest.mark.parametrize("case", list(REJECTED_FILES))
def test_data_personalize_cannot_train_on_is_refused_whole_naming_the_file(case: str, tmp_path: Path) -> None:
    # Given a lake whose only raw file is empty, only a header, or too small for Personalize
    name, write, problem = REJECTED_FILES[case]
    raw = tmp_path / name
    write(raw)
    original = raw.read_bytes()
    lake = tmp_path / "lake"

    # When it is run
    result = runner.invoke(app, ["local", "run", "--raw", str(raw), "--lake", str(lake), "--time-scale", "0"])

    # Then the run fails with one sentence naming the file and the problem, and no traceback
    assert result.exit_code == 1, result.output
    (sentence,) = error_lines(result.output)
    assert problem in sentence and "failed in phase data: DataCheckFailed" in sentence, sentence
    assert "Traceback" not in result.output
    # And nothing importable was written, nothing imported, no recommendations made; the raw file is as given
    (run_id,) = [path.name for path in (lake / "runs").iterdir()]
    new = files(lake)
    written = sorted(key for key in new if not key.startswith(("raw/", "runs/")))
    assert written == [f"rejects/{run_id}/part-00000.json", f"transformed/{run_id}/report.json"]
    assert json.loads(new[f"transformed/{run_id}/report.json"])["rejection"] in sentence
    assert summary_of(lake, run_id)["phases"]["import"]["status"] == "NOT_STARTED"
    assert new[f"raw/{name}"] == original == raw.read_bytes()


def _binary(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)


def _missing_columns(path: Path) -> None:
    path.write_text("user_id,when\n" + "".join(f"u{n},2024-05-01\n" for n in range(2000)))


@pytest.mark.parametrize(
    "name, write, problem",
    [
        ("photo.dat", _binary, "raw/photo.dat: the file is binary, not text"),
        ("columns.csv", _missing_columns, "raw/columns.csv: no item id column; the file's columns are user_id, when"),
    ],
    ids=["binary", "missing columns"],
)
def test_an_unreadable_upload_fails_the_run_and_keeps_the_earlier_recommendations(
    prior_lake: Path, tmp_path: Path, name: str, write: Any, problem: str
) -> None:
    # Given a lake with a successful run, and an upload that cannot be read
    raw = tmp_path / name
    write(raw)
    before = files(prior_lake)

    # When it is run
    result = runner.invoke(app, ["local", "run", "--raw", str(raw), "--lake", str(prior_lake), "--time-scale", "0"])

    # Then it fails in the ETL with one sentence naming the file and the problem
    assert result.exit_code == 1, result.output
    (sentence,) = error_lines(result.output)
    assert "failed in phase etl: EtlJobFailed" in sentence and problem in sentence, sentence
    # And the ETL wrote nothing, nothing was imported, and every earlier file is as it was
    run_id = sentence.split()[1]
    new = assert_nothing_lost(before, prior_lake, run_id)
    assert [key for key in new if not key.startswith(("raw/", f"runs/{run_id}/"))] == []
    assert new[f"raw/{name}"] == raw.read_bytes()
    assert summary_of(prior_lake, run_id)["phases"]["import"]["status"] == "NOT_STARTED"


def test_a_users_file_that_is_not_json_lines_fails_the_run_before_the_etl(
    prior_lake: Path, raw_file: Path, tmp_path: Path
) -> None:
    users = tmp_path / "users.txt"
    users.write_text(f'{{"userId": "u-{SENTINEL}-1"}}\nu-{SENTINEL}-2\n')
    before = files(prior_lake)

    result = runner.invoke(
        app, ["local", "run", "--raw", str(raw_file), "--users", str(users), "--lake", str(prior_lake)]
    )

    # Then the run's first state refused the file, naming it and the line, without quoting it
    assert result.exit_code == 1, result.output
    (sentence,) = error_lines(result.output)
    run_id = sentence.split()[1]
    assert "failed in phase data: DataCheckFailed: Line 2 of s3://" in sentence, sentence
    assert '/batch_users_input/users.txt is not a JSON object with a string userId, like {"userId": "42"}' in sentence
    assert SENTINEL not in result.output
    # And no ETL ran: besides the uploaded users file, the run left only its summary
    new = {key: body for key, body in files(prior_lake).items() if before.get(key) != body}
    assert sorted(key for key in new if not key.startswith(f"runs/{run_id}/")) == ["batch_users_input/users.txt"]
    assert summary_of(prior_lake, run_id)["phases"]["etl"]["status"] == "NOT_STARTED"


# --- faults -------------------------------------------------------------------------------------------

FAULT_ERRORS = {
    ("etl", "fail"): ("EtlJobFailed", "injected fault (--fault etl:fail)"),
    ("etl", "stop"): ("EtlNotSucceeded", "STOPPED"),
    ("etl", "stall"): ("EtlJobFailed", "the job run exceeded its timeout"),
    **{(phase, "fail"): ("JobFailed", "Injected fault") for phase in ("import", "train", "batch")},
    **{(phase, "stop"): ("JobStopped", "") for phase in ("import", "train", "batch")},
    **{(phase, "stall"): ("DeadlineExceeded", "did not finish in") for phase in ("import", "train", "batch")},
}


@pytest.mark.parametrize("phase, outcome", list(FAULT_ERRORS), ids=[f"{p}:{o}" for p, o in FAULT_ERRORS])
def test_a_fault_fails_the_run_naming_phase_and_reason_notifies_the_same_and_loses_nothing(
    prior_lake: Path, raw_file: Path, notifications: list[str], phase: str, outcome: str
) -> None:
    before, sent = files(prior_lake), len(notifications)

    summary = run(RunRequest(raw_files=[raw_file], lake=prior_lake, time_scale=0, faults={phase: outcome}))

    error, reason = FAULT_ERRORS[(phase, outcome)]
    assert (summary.status, summary.failed_phase, summary.error) == ("FAILED", phase, error), summary.cause
    assert summary.cause and reason in summary.cause
    assert "Traceback" not in summary.cause and "stackTrace" not in summary.cause
    # The operators' notification says exactly what the run's summary (and the CLI's error line) says
    assert notifications[sent:] == [
        f"recflow run {summary.run_id} failed in phase {phase}: {summary.error}: {summary.cause}"
    ]
    assert SENTINEL not in notifications[-1]
    assert_nothing_lost(before, prior_lake, summary.run_id)


def test_an_unexpected_error_in_a_handler_fails_the_run_with_its_name_and_message(
    prior_lake: Path, raw_file: Path, notifications: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the job check Lambda hits a bug
    from recflow_lambda.handlers import check_job

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the job table is corrupt")

    monkeypatch.setattr(check_job, "check_job", broken)
    before, sent = files(prior_lake), len(notifications)

    # When a run reaches it
    summary = run(RunRequest(raw_files=[raw_file], lake=prior_lake, time_scale=0))

    # Then the run fails in the import phase with the error's type and message, notified as such
    assert (summary.status, summary.failed_phase) == ("FAILED", "import")
    assert (summary.error, summary.cause) == ("RuntimeError", "the job table is corrupt")
    assert notifications[sent:] == [
        f"recflow run {summary.run_id} failed in phase import: RuntimeError: the job table is corrupt"
    ]
    assert_nothing_lost(before, prior_lake, summary.run_id)


# --- what reaches the terminal and the logs -----------------------------------------------------------


def _recflow(*args: str, log_level: str | None) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own: Python's logging set up by the CLI alone, as in a terminal."""
    command = [sys.executable, "-c", "from recflow.cli import app; app(prog_name='recflow')", *args]
    env = {name: value for name, value in os.environ.items() if name != "RECFLOW_LOG_LEVEL"}
    env |= {"RECFLOW_LOG_LEVEL": log_level} if log_level else {}
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


def test_a_failed_run_prints_only_its_sentence_and_debug_logging_shows_the_internals(
    raw_file: Path, tmp_path: Path
) -> None:
    args = ["local", "run", "--raw", str(raw_file), "--time-scale", "0", "--fault", "train:fail"]
    quiet = _recflow(*args, "--lake", str(tmp_path / "quiet"), log_level=None)

    assert quiet.returncode == 1
    assert quiet.stderr == ""  # moto's interpreter logs each failed state with the Lambda's stack trace
    assert quiet.stdout.strip().splitlines()[-1].startswith("error: run ")
    assert "failed in phase train: JobFailed: Personalize training job" in " ".join(quiet.stdout.split())
    assert "Traceback" not in quiet.stdout and "FailureEventException" not in quiet.stdout

    # An ETL fault fails sooner, through the same Fail state
    debug_args = ["local", "run", "--raw", str(raw_file), "--time-scale", "0", "--fault", "etl:fail"]
    debug = _recflow(*debug_args, "--lake", str(tmp_path / "debug"), log_level="DEBUG")

    assert debug.returncode == 1
    assert "FailureEventException" in debug.stderr


def test_no_log_line_holds_a_user_or_an_item_id(logged: tuple[Path, Summary, list[str]]) -> None:
    lake, summary, lines = logged
    # The run logged (the handlers at DEBUG, moto, the offline runtime), counts among it
    handler_lines = [json.loads(line) for line in lines if line.startswith("{")]
    assert {"data checked", "job polled", "run finished"} <= {line["message"] for line in handler_lines}
    checked = next(line for line in handler_lines if line["message"] == "data checked")
    assert checked["interactions"] == summary.counts["interactions"]
    # Yet no id: they stay in the data (and the rejects), never in a log
    assert [line for line in lines if SENTINEL in line] == []
    assert SENTINEL in (lake / "rejects" / summary.run_id / "part-00000.json").read_text()
