"""``--launcher``, ``--seeds`` and every launcher's own options, for ``cv`` and ``reproduce``.

A launcher plugin declares its options as a dataclass (``LauncherSpec.options``); each
field becomes a flag in the help's "Launcher options" panel, its help naming the
launchers that read it, so ``gvetool cv --help`` documents them all. The command receives
``launching``: the launcher asked for, the options given (for
:func:`gvetool.fanout.launcher_named` to check against that launcher) and the seeds.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, TypeVar

import typer

from gvetool.cli.config_options import complete_names
from gvetool.errors import GvetoolError
from gvetool.model_options import without_none

F = TypeVar("F", bound=Callable[..., Any])
PANEL = "Launcher options"


def _option_parameters(taken: set[str]) -> list[inspect.Parameter]:
    from gvetool.plugins import get_plugins

    launchers = get_plugins().launchers
    declared: dict[str, tuple[Any, Any, list[str]]] = {}
    for name in launchers.names():
        options = launchers.get(name).options
        if options is None:
            continue
        hints = typing.get_type_hints(options)
        for option in fields(options):
            if option.name not in taken and option.name.isidentifier():
                entry = declared.setdefault(option.name, (option, hints[option.name], []))
                entry[2].append(name)
    parameters = []
    for key, (option, kind, owners) in declared.items():
        shown = option.default not in (MISSING, None, "")
        default = f" \\[default: {option.default}]" if shown else ""
        help_text = f"{', '.join(owners)}: {option.metadata.get('help', '')}{default}"
        flag = typer.Option(None, f"--{key.replace('_', '-')}", help=help_text,
                            show_default=False, rich_help_panel=PANEL)  # fmt: skip
        parameters.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=flag,
                                            annotation=without_none(kind) | None))  # fmt: skip
    return parameters


def _launcher_parameter() -> inspect.Parameter:
    flag = typer.Option(
        None,
        "--launcher",
        help="How the runs are run: sequential (here, one after another; the default), "
        "local (parallel processes) or a plugin's (`gvetool plugins` lists them; also "
        "name = ... in a \\[launcher] table of --config).",
        autocompletion=complete_names("launcher"),
        rich_help_panel=PANEL,
    )
    return inspect.Parameter("launcher", inspect.Parameter.KEYWORD_ONLY, default=flag,
                             annotation=str | None)  # fmt: skip


def _seeds_parameter() -> inspect.Parameter:
    flag = typer.Option(
        None,
        "--seeds",
        help="Repeat everything once per seed, comma-separated (e.g. 0,1,2): mean ± std "
        "over seeds (default: --seed alone).",
        rich_help_panel=PANEL,
    )
    return inspect.Parameter("seeds", inspect.Parameter.KEYWORD_ONLY, default=flag,
                             annotation=str | None)  # fmt: skip


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``"0,1,2"`` -> ``(0, 1, 2)``, with one clear line for anything else."""
    if text is None:
        return None
    from gvetool.config import names_in

    try:
        seeds = tuple(int(part) for part in names_in(text))
    except ValueError:
        raise GvetoolError(f"--seeds {text!r}: write whole numbers, e.g. --seeds 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise GvetoolError(f"--seeds {text!r}: name each seed once, e.g. --seeds 0,1,2")
    return seeds


def launcher_options(command: F) -> F:
    """Add ``--launcher``, ``--seeds`` and the launchers' options to a Typer command,
    which receives them as ``launching`` (``launcher``, ``launcher_options``, ``seeds``)."""
    signature = inspect.signature(command)
    own = [p for p in signature.parameters.values() if p.name != "launching"]
    taken = {p.name for p in own}
    options = _option_parameters(taken | {"launcher", "seeds"})
    names = [p.name for p in options]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        given = {key: kwargs.pop(key) for key in names}
        launching = {
            "launcher": kwargs.pop("launcher"),
            "launcher_options": {k: v for k, v in given.items() if v is not None},
            "seeds": parse_seeds(kwargs.pop("seeds")),
        }
        return command(launching=launching, **kwargs)

    extra = [_launcher_parameter(), _seeds_parameter(), *options]
    wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
