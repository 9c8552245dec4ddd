"""Progress bars for every long loop, on stderr, silenced by ``--quiet``.

One place decides how progress looks, so data conversion, feature extraction, training
and evaluation all report the same way (count, rate, elapsed, time left).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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

from gvetool import console

QUIET_ENV = "GVETOOL_QUIET"


def quiet() -> bool:
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


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

    ``status`` is a short text shown after the bar (e.g. the running loss).
    """
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console.err(),
        disable=quiet(),
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total, status="")

        def advance(n: int = 1, status: str | None = None) -> None:
            if status is None:
                progress.advance(task, n)
            else:
                progress.update(task, advance=n, status=status)

        yield advance
