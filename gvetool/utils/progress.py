"""Progress bars for every long loop, on stderr, silenced by ``--quiet``.

One place decides how progress looks, so data conversion, feature extraction, training
and evaluation all report the same way (count, rate, elapsed, time left).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from gvetool.utils import console

QUIET_ENV = "GVETOOL_QUIET"


def quiet() -> bool:
    return console.silenced() or os.environ.get(QUIET_ENV, "") not in ("", "0")


Advance = Callable[..., None]


class RateColumn(ProgressColumn):
    """Items per second (or seconds per item when slower than one a second)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("-- it/s")
        return Text(f"{speed:.1f} it/s" if speed >= 1 else f"{1 / speed:.1f} s/it")


@contextmanager
def progress_bar(total: int | None, description: str) -> Iterator[Advance]:
    """Yield ``advance(n=1, status=None)``: done/total, rate, elapsed, time left, status.

    ``status`` is a short text shown after the bar (e.g. the running loss). On a terminal
    this is a live bar; in a log file or CI (stderr not a terminal) it is plain lines, one
    every :data:`PLAIN_EVERY` seconds and one at the end (a short loop: just that one).
    """
    stream = console.err()
    if quiet() or console.drawing():  # a bar inside a bar: the outer one shows progress
        yield lambda n=1, status=None: None
        return
    if not stream.is_terminal:
        lines = PlainLines(total, description, stream)
        yield lines.advance
        lines.finish()
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=stream,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total, status="")

        def advance(n: int = 1, status: str | None = None) -> None:
            if status is None:
                progress.advance(task, n)
            else:
                progress.update(task, advance=n, status=status)

        with console.live(stream):
            yield advance


PLAIN_EVERY = 30.0  # seconds between two plain progress lines at most


class PlainLines:
    """Progress as whole lines, for logs: nothing a terminal would have to redraw."""

    def __init__(self, total: int | None, description: str, stream: Console) -> None:
        self.total, self.description, self.stream = total, description, stream
        self.done, self.status = 0, ""
        self.started = self.last = time.monotonic()

    def advance(self, n: int = 1, status: str | None = None) -> None:
        self.done += n
        self.status = status if status is not None else self.status
        now = time.monotonic()
        if now - self.last >= PLAIN_EVERY:
            self._line(now)

    def finish(self) -> None:
        self._line(time.monotonic())

    def _line(self, now: float) -> None:
        self.last = now
        count = (
            f"{self.done}/{self.total} ({100 * self.done // self.total}%)"
            if self.total
            else (f"{self.done}")
        )
        status = f"  {self.status}" if self.status else ""
        self.stream.print(
            f"{self.description}: {count} in {now - self.started:.1f} s{status}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
