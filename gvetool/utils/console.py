"""Where the tool talks to people: results on stdout, diagnostics on stderr.

The consoles are created on each call so that they follow ``sys.stdout``/``sys.stderr``
as they are at that moment (tests capture them, ``--quiet`` may replace them).

Called from Python (:mod:`gvetool.user_api`) the tool is :func:`silent` unless the
caller asks for progress: nothing is printed, and warnings become Python warnings
(:class:`GvetoolWarning`), which the caller's warning filters control.
"""

import functools
import io
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape


class GvetoolWarning(UserWarning):
    """A warning gvetool gives while it is used from Python without progress output."""


_silent: list[bool] = []  # innermost last: whether output is suppressed


def silenced() -> bool:
    """Whether output is suppressed now (a library call without ``progress=True``)."""
    return bool(_silent) and _silent[-1]


@contextmanager
def silent(enabled: bool = True) -> Iterator[None]:
    """Inside the block nothing is printed (``enabled``) or everything is, as the CLI does."""
    _silent.append(enabled)
    try:
        yield
    finally:
        _silent.pop()


F = TypeVar("F", bound=Callable[..., Any])


def quiet_unless_asked(function: F) -> F:
    """``function`` gains a keyword ``progress=False``: without it, it runs :func:`silent`."""

    @functools.wraps(function)
    def wrapper(*args: Any, progress: bool = False, **kwargs: Any) -> Any:
        with silent(not progress):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _nowhere() -> Console:
    return Console(file=io.StringIO(), soft_wrap=True)


UNBOUNDED = 10_000  # columns of a log file: a table prints at its own width


def out() -> Console:
    """Console for results (tables, paths): stdout, so they can be piped.

    Piped or redirected to a log, stdout has no width and rich would assume 80 columns,
    folding a wide results table until every number reads "0…"; there a table is printed
    at its own width (``COLUMNS`` still decides where it is set).
    """
    if silenced():
        return _nowhere()
    console = Console(soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = UNBOUNDED
    return console


_live: list[Console] = []  # the console of the progress bar being drawn, if one is


def err() -> Console:
    """Console for diagnostics and progress: stderr, so stdout stays clean.

    While a progress bar is drawn it is that bar's console, so that a warning or the
    Ctrl-C notice prints on its own line above the bar instead of into it.
    """
    if silenced():
        return _nowhere()
    return _live[-1] if _live else Console(stderr=True, soft_wrap=True)


def drawing() -> bool:
    """Whether a progress bar is being drawn now."""
    return bool(_live)


@contextmanager
def live(console: Console) -> Iterator[None]:
    """Inside the block, :func:`err` is ``console`` (a progress bar's)."""
    _live.append(console)
    try:
        yield
    finally:
        _live.remove(console)


def warn(message: str) -> None:
    """One warning line on stderr; the message is shown literally, never as markup."""
    if silenced():
        warnings.warn(message, GvetoolWarning, stacklevel=_first_frame_outside_gvetool())
        return
    err().print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True, highlight=False)


def _first_frame_outside_gvetool() -> int:
    """The ``stacklevel`` that makes a warning name the caller's own line (a script's,
    a notebook cell's), not the gvetool function that noticed the problem."""
    package = str(Path(__file__).resolve().parents[1])
    level, frame = 1, sys._getframe(1)  # the caller of this function is stacklevel 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def error(message: str) -> None:
    """One error line on stderr; the message is shown literally, never as markup."""
    err().print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)


def mean_and_spread(mean: float, std: float | None) -> str:
    """``"0.512 ± 0.034"``, or ``"0.512 (n = 1)"`` where one value was measured: a
    spread that was not measured is never shown as ``± 0.000``."""
    return f"{mean:.3f} (n = 1)" if std is None else f"{mean:.3f} ± {std:.3f}"
