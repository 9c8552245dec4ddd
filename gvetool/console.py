"""Where the tool talks to people: results on stdout, diagnostics on stderr.

The consoles are created on each call so that they follow ``sys.stdout``/``sys.stderr``
as they are at that moment (tests capture them, ``--quiet`` may replace them).
"""

from rich.console import Console
from rich.markup import escape


def out() -> Console:
    """Console for results (tables, paths): stdout, so they can be piped."""
    return Console(soft_wrap=True)


def err() -> Console:
    """Console for diagnostics and progress: stderr, so stdout stays clean."""
    return Console(stderr=True, soft_wrap=True)


def warn(message: str) -> None:
    """One warning line on stderr; the message is shown literally, never as markup."""
    err().print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True, highlight=False)


def error(message: str) -> None:
    """One error line on stderr; the message is shown literally, never as markup."""
    err().print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
