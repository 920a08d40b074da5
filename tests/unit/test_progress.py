"""Progress of long steps: what library code reports, and where the CLI shows it (terminals only)."""

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from recflow.cli import app
from recflow.personalize_local import recommender
from recflow.personalize_local.interactions import Interactions
from recflow.personalize_local.trainer import NumericTrainer
from recflow.progress import NO_PROGRESS, Advance, TerminalProgress
from recflow.synthetic import generate

# What a live display writes and a log must never contain: carriage return, cursor up, erase line,
# hide cursor.
CURSOR_CODES = ("\r", "\x1b[1A", "\x1b[2K", "\x1b[?25l")


@dataclass
class Step:
    name: str
    total: int | None
    done: int = 0
    thread: str = ""


class RecordingProgress:
    """Every step reported, in the order opened, with the units it was advanced by."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    @contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[Advance]:
        step = Step(name, total, thread=threading.current_thread().name)
        self.steps.append(step)

        def advance(units: int) -> None:
            step.done += units

        yield advance

    def summary(self) -> list[tuple[str, int | None, int]]:
        return [(step.name, step.total, step.done) for step in self.steps]


def _interactions(users: int = 60, items: int = 200, per_user: int = 20, seed: int = 3) -> Interactions:
    rng = np.random.default_rng(seed)
    user_ids = np.repeat([f"u{u}" for u in range(users)], per_user)
    item_ids = np.concatenate([rng.choice(items, size=per_user, replace=False) for _ in range(users)]).astype(str)
    timestamps = 1_600_000_000 + np.arange(len(user_ids), dtype=np.int64)
    return Interactions({"USER_ID": user_ids, "ITEM_ID": item_ids, "TIMESTAMP": timestamps})


def test_generation_reports_users_sampled_then_rows_written(tmp_path):
    progress = RecordingProgress()

    stats = generate(tmp_path / "r.dat", users=60, items=300, interactions=6_000, seed=5, progress=progress)

    assert progress.summary() == [("Generating rows", 6_000, 6_000)]
    assert len((tmp_path / "r.dat").read_text().splitlines()) == 6_001  # header + the rows counted
    assert stats.bytes == (tmp_path / "r.dat").stat().st_size


def test_generation_writes_the_same_bytes_with_or_without_progress(tmp_path):
    generate(tmp_path / "quiet.dat", users=40, items=200, interactions=3_000, seed=2)
    generate(tmp_path / "reported.dat", users=40, items=200, interactions=3_000, seed=2, progress=RecordingProgress())

    assert (tmp_path / "quiet.dat").read_bytes() == (tmp_path / "reported.dat").read_bytes()


def test_ease_training_reports_its_three_stages():
    progress = RecordingProgress()

    model = NumericTrainer(progress).train(_interactions(), "aws-user-personalization-v2", seed=0)

    assert progress.summary() == [("Training ease (fit, test, refit)", 3, 3)]
    assert model.metrics["precision_at_25"] >= 0.0


def test_als_training_reports_every_iteration_of_both_fits(monkeypatch):
    monkeypatch.setattr(recommender, "TIME_BUDGET_SECONDS", 0.0)  # what data too big for EASE gets
    progress = RecordingProgress()

    NumericTrainer(progress).train(_interactions(), "aws-user-personalization-v2", seed=0)

    iterations = recommender.Als.ITERATIONS
    assert progress.summary() == [
        ("Training als (fit, test, refit)", 3, 3),
        ("ALS iterations", iterations, iterations),  # the fit on the training users
        ("ALS iterations", iterations, iterations),  # the served model, on everyone
    ]


def test_scoring_counts_every_input_line_known_unknown_or_unusable():
    model = NumericTrainer().train(_interactions(), "aws-user-personalization-v2", seed=0)
    lines = [f'{{"userId": "u{u}"}}' for u in range(50)] + ['{"userId": "stranger"}', "not json", '{"itemId": "1"}']
    progress = RecordingProgress()

    output = list(NumericTrainer(progress).recommend(model, lines, 10))

    assert len(output) == 53
    assert progress.summary() == [("Scoring batch input lines", 53, 53)]


def test_no_progress_is_the_default_and_ignores_everything():
    with NO_PROGRESS.step("anything", total=3) as advance:
        advance(5)  # more than the total: nothing checks, nothing prints


def test_a_terminal_shows_each_step_once_ended_and_the_status_line_goes_at_the_end():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)

    with TerminalProgress(console, "Waiting for the ETL") as live:
        with live.step("Writing rows", total=1_000) as advance:
            advance(400)
            advance(600)
        with live.step("Open-ended", total=None) as advance:
            advance(7)
        live.status("Check training status")

    text = out.getvalue()
    lines = [line.rsplit("\x1b[2K", 1)[-1] for line in text.split("\n")]  # as left on screen after redraws
    (rows,) = [line for line in lines if "Writing rows" in line]
    assert "1000/1000" in rows and "0:00:00" in rows  # printed once it ended, with its count and duration
    assert [line for line in lines if "Open-ended" in line][0].count("7/7") == 1  # open-ended: complete as reached
    assert "Waiting for the ETL" in text and "Waiting for the ETL" not in lines[-1]  # the spinner line is gone
    assert any(code in text for code in CURSOR_CODES)


runner = CliRunner()


def _generate(tmp_path, env):
    return runner.invoke(
        app, ["generate", str(tmp_path / "r.dat"), "--users", "60", "--items", "300", "--interactions", "6000"], env=env
    )


@pytest.mark.parametrize(
    "env",
    [
        {"CI": None, "TTY_COMPATIBLE": None, "FORCE_COLOR": None},  # not a TTY: CliRunner captures the output
        {"CI": "1", "TTY_COMPATIBLE": "1"},  # a terminal, but CI is set
    ],
    ids=["not-a-tty", "ci"],
)
def test_generate_prints_only_its_summary_where_output_is_a_log(tmp_path, env):
    result = _generate(tmp_path, env)

    assert result.exit_code == 0, result.output
    assert "6,000 interactions, 60 users" in " ".join(result.output.split())  # the summary, however wrapped
    assert "Generating rows" not in result.output
    assert not [code for code in CURSOR_CODES if code in result.output]


def test_generate_shows_progress_on_a_terminal(tmp_path):
    result = _generate(tmp_path, {"CI": None, "TTY_COMPATIBLE": "1"})  # rich's override: treat output as a TTY

    assert result.exit_code == 0, result.output
    assert "Generating rows" in result.output and "6000/6000" in result.output
    after = result.output.rsplit("6000/6000", 1)[-1]
    assert "6,000 interactions, 60 users" in " ".join(after.split())  # the summary comes after the bars
