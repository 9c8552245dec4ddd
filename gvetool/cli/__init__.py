"""The ``gvetool`` command line: a Typer app assembled from the core commands and plugins.

:func:`main` is the console-script entry point. It owns the error policy: a
:class:`~gvetool.utils.errors.GvetoolError` becomes one ``error: ...`` line on stderr and exit
status 1; any other exception is a bug, reported in one line with a pointer to
``--debug``, which shows the full traceback instead.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import typer
from typer.main import get_command

from gvetool.cli import cv as cv_cli
from gvetool.cli import data as data_cli
from gvetool.cli import demo as demo_cli
from gvetool.cli import evaluate as evaluate_cli
from gvetool.cli import explain as explain_cli
from gvetool.cli import plugins as plugins_cli
from gvetool.cli import reproduce as reproduce_cli
from gvetool.cli import runs as runs_cli
from gvetool.cli import serve as serve_cli
from gvetool.cli import split as split_cli
from gvetool.cli import study as study_cli
from gvetool.cli import train as train_cli
from gvetool.cli import transfer as transfer_cli
from gvetool.cli.plugin_commands import add_plugin_commands
from gvetool.kernel.manager import get_plugins
from gvetool.utils import console
from gvetool.utils.errors import INTERRUPTED_EXIT, GvetoolError, filesystem_fault
from gvetool.utils.progress import QUIET_ENV

INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE: a bug in gvetool or a plugin, not the user's doing


def _show_version(value: bool) -> None:
    if value:
        console.out().print(f"gvetool {metadata.version('gvetool')}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show full tracebacks on errors (also GVETOOL_DEBUG=1)."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bars (also GVETOOL_QUIET=1)."
    ),
) -> None:
    """Train and evaluate image describers (LRCN) and visual explainers (GVE)."""
    if quiet:
        os.environ[QUIET_ENV] = "1"


def build_app() -> typer.Typer:
    """The Typer app: core commands first, then whatever the plugins add."""
    app = typer.Typer(
        name="gvetool",
        no_args_is_help=True,
        add_completion=True,  # --install-completion / --show-completion for the user's shell
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
    app.callback()(_root)
    plugins = get_plugins()
    app.add_typer(data_cli.build_app(plugins), name="data")
    app.add_typer(split_cli.app, name="split")
    app.command("train")(train_cli.train)
    app.command("eval")(evaluate_cli.evaluate_command)
    app.command("cv")(cv_cli.cv)
    app.command("transfer")(transfer_cli.transfer)
    app.command("explain")(explain_cli.explain_command)
    app.command("serve")(serve_cli.serve_command)
    app.add_typer(study_cli.app, name="study")
    app.command("reproduce")(reproduce_cli.reproduce)
    app.command("runs")(runs_cli.runs)
    app.command("demo")(demo_cli.demo)
    app.command("plugins")(plugins_cli.plugins)
    add_plugin_commands(plugins, app)
    return app


def _tidy_help(command: Any) -> None:
    """Help shows no value type for on/off flags (Typer labels them ``<bool>``, as if
    they took a value), and a group lists each subcommand by its docstring's first
    paragraph as one flowing line (Typer keeps the docstring's line breaks there, which
    leaves a word alone on a line); walks every subcommand. ``--help`` is made here, as
    the command would make it on first use, so that it is untyped too."""
    help_option = command.get_help_option(command.context_class(command))
    for param in [*command.params, *([help_option] if help_option else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    if command.help and command.short_help is None:
        command.short_help = " ".join(command.help.split("\n\n")[0].split())
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)


def _debug_requested(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("GVETOOL_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        command = get_command(build_app())
        _tidy_help(command)
        command(args=args, prog_name="gvetool")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == INTERRUPTED_EXIT:  # Typer's silent exit for a Ctrl-C outside our handlers
            console.error("interrupted")
        return code
    except GvetoolError as exc:
        if debug:
            traceback.print_exc()
        console.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        console.error("interrupted")
        return INTERRUPTED_EXIT
    except OSError as exc:
        if debug:
            traceback.print_exc()
        fault = filesystem_fault(exc)
        if fault is None:
            return _internal_error(exc)
        console.error(fault)
        return GvetoolError.exit_code
    except Exception as exc:
        if debug:
            traceback.print_exc()
        return _internal_error(exc)
    return 0


def _internal_error(exc: BaseException) -> int:
    console.error(
        f"internal error: {type(exc).__name__}: {exc} "
        "(a bug; rerun with --debug for the traceback and report it)"
    )
    return INTERNAL_ERROR_EXIT
