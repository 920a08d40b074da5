"""The recflow command line: exit codes and one-sentence errors, never a traceback."""

import json

import pytest
from typer.testing import CliRunner

from recflow.cli import app
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e
runner = CliRunner()


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "ratings.dat"
    generate(path, users=60, items=300, interactions=6_000, seed=5)
    return path


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_local_run_succeeds_and_says_where_the_recommendations_are(raw_file, tmp_path):
    result = _run("local", "run", "--raw", raw_file, "--lake", tmp_path / "lake", "--time-scale", "0")
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.output and "top 10 for" in result.output
    assert "\r" not in result.output and "\x1b[" not in result.output  # not a TTY: no progress, no spinner
    (summary,) = (tmp_path / "lake" / "runs").glob("*/summary.json")
    assert json.loads(summary.read_text())["status"] == "SUCCEEDED"


def test_a_failed_run_exits_1_naming_the_phase_and_cause(raw_file, tmp_path):
    result = _run("local", "run", "--raw", raw_file, "--lake", tmp_path, "--time-scale", "0", "--fault", "train:fail")
    assert result.exit_code == 1
    assert "failed in phase train: JobFailed" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fault", "train"], "--fault takes PHASE:OUTCOME"),
        (["--fault", "train:explode"], "unknown fault train:explode"),
        (["--job-seconds", "train=soon"], "--job-seconds takes PHASE=SECONDS"),
        (["--job-seconds", "deploy=5"], "--job-seconds takes PHASE=SECONDS with PHASE in import, train, batch"),
        (["--recipe", "aws-hrnn"], "parameter Recipe must be one of"),
        (["--num-results", "0"], "NumResults=0 is outside 1..500"),
    ],
)
def test_bad_flags_get_one_clear_sentence_and_exit_2(raw_file, tmp_path, args, message):
    result = _run("local", "run", "--raw", raw_file, "--lake", tmp_path, *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "terminal"])
def test_local_run_shows_progress_on_a_terminal_unless_ci_is_set(raw_file, tmp_path, ci):
    env = {"TTY_COMPATIBLE": "1", "CI": "1" if ci else None}  # TTY_COMPATIBLE: rich treats the output as a TTY
    result = runner.invoke(
        app, ["local", "run", "--raw", str(raw_file), "--lake", str(tmp_path), "--time-scale", "0"], env=env
    )

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "▸ Start training" in text and "SUCCEEDED" in text  # the states and the summary, either way
    bars = ["ETL: raw files transformed", "Training ease (fit, test, refit)", "Scoring batch"]
    if ci:
        assert not [bar for bar in bars if bar in text]
        assert not [code for code in ("\r", "\x1b[1A", "\x1b[2K", "\x1b[?25l") if code in result.output]
    else:
        assert all(bar in text for bar in bars), text
        assert "1/1" in text and "3/3" in text and "60/60" in text  # raw files, training stages, users scored
