"""Progress of long steps, reported by code that knows nothing about terminals.

Library code takes a `Progress` and reports through it:

    with progress.step("Scoring batch input lines", total=len(lines)) as advance:
        for block in blocks:
            ...
            advance(len(block))

`NO_PROGRESS`, the default everywhere, ignores it all. The CLI passes a `TerminalProgress` (rich bars)
only when its output is a terminal and CI is unset, so logs never get bars, spinners or carriage returns.
Steps may be reported from any thread: the offline pipeline trains and scores on moto's execution thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Task, TaskID

STEP_NAME_WIDTH = 36
COUNT_WIDTH = 13  # 850000/850000

Advance = Callable[[int], None]
"""Adds n units (rows, lines, iterations…) to the step's count."""


class Progress(Protocol):
    def step(self, name: str, total: int | None = None) -> AbstractContextManager[Advance]:
        """A step of `total` units (None: unknown) that lasts for the `with` block."""
        ...


def _ignore(units: int) -> None:
    pass


class _NoProgress:
    @contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[Advance]:
        yield _ignore


NO_PROGRESS: Progress = _NoProgress()


class TerminalProgress:
    """Running steps as rich progress bars, above a spinner line saying what is going on now.

    Use as a context manager around the work; `status()` sets the spinner line. A step that ends is
    printed once, as a line that stays, and leaves the live area: redrawing only the running steps keeps
    the display's cost small (a redraw holds the GIL the pipeline's threads need).
    """

    def __init__(self, console: Console, status: str = "") -> None:
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars
        from rich.spinner import Spinner
        from rich.table import Column

        self._bars = Bars(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}", table_column=Column(min_width=STEP_NAME_WIDTH)),  # lines align
            MofNCompleteColumn(table_column=Column(min_width=COUNT_WIDTH, justify="right")),
            TimeElapsedColumn(),
            BarColumn(bar_width=None),  # last, taking the width left: on a narrow terminal the bar gives way
            console=console,
        )
        self._spinner = Spinner("dots", text=status)
        self._live = Live(Group(self._bars, self._spinner), console=console, refresh_per_second=4)

    def __enter__(self) -> TerminalProgress:
        self._live.start(refresh=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._live.update(self._bars)
        self._live.stop()

    def status(self, text: str) -> None:
        self._spinner.update(text=text)

    @contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[Advance]:
        task = self._bars.add_task(name, total=total)

        def advance(units: int) -> None:
            self._bars.advance(task, units)

        try:
            yield advance
        finally:
            if total is None:  # an open-ended step is complete at whatever count it reached
                self._bars.update(task, total=self._task(task).completed)
            self._bars.stop_task(task)
            ended = self._task(task)
            self._bars.remove_task(task)
            self._live.console.print(self._bars.make_tasks_table([ended]))

    def _task(self, task_id: TaskID) -> Task:
        (task,) = (task for task in self._bars.tasks if task.id == task_id)
        return task
