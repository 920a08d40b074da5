"""What logging may print on the terminal of a recflow command."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import typer

from recflow.cli.common import configure_logging


@pytest.fixture
def terminal_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def test_by_default_only_recflows_own_warnings_reach_the_terminal(
    terminal_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RECFLOW_LOG_LEVEL", raising=False)
    configure_logging()

    logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").error("Exception=FailureEvent")
    logging.getLogger("recflow.offline.server").warning("could not write the lake: disk full")
    logging.getLogger("recflow.offline.server").info("restored 3 objects")

    assert capsys.readouterr().err == "WARNING: could not write the lake: disk full\n"


def test_recflow_log_level_shows_every_librarys_records(
    terminal_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECFLOW_LOG_LEVEL", "debug")
    configure_logging()

    logging.getLogger("moto.stepfunctions").debug("Exception=FailureEvent")

    assert "DEBUG moto.stepfunctions: Exception=FailureEvent" in capsys.readouterr().err


def test_an_unknown_level_is_one_sentence(terminal_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECFLOW_LOG_LEVEL", "loud")
    with pytest.raises(typer.Exit) as raised:
        configure_logging()
    assert raised.value.exit_code == 2
