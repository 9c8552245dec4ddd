"""``--launcher``, ``--seeds`` and every launcher's own options, for ``cv`` and ``reproduce``.

A launcher plugin declares its options as a dataclass (``LauncherSpec.options``); each
field becomes a flag in the help's "Launcher options" panel, its help naming the
launchers that read it, so ``gvetool cv --help`` documents them all. The command receives
``launching``: the launcher asked for, the options given (for
:func:`gvetool.workflows.fanout.launcher_named` to check against that launcher) and the seeds.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from gvetool.cli.config_options import complete_names, option_parameters
from gvetool.utils.errors import GvetoolError

F = TypeVar("F", bound=Callable[..., Any])
PANEL = "Launcher options"


def _option_parameters(taken: set[str]) -> list[inspect.Parameter]:
    from gvetool.kernel.manager import get_plugins

    launchers = get_plugins().launchers
    owners = [(name, launchers.get(name).options) for name in launchers.names()]
    return option_parameters(owners, taken, PANEL)


def _launcher_parameter() -> inspect.Parameter:
    flag = typer.Option(
        None,
        "--launcher",
        help="How the runs are run: sequential (here, one after another; the default), "
        "local (parallel processes), slurm (cluster jobs through submitit) or a plugin's "
        "(`gvetool plugins` lists them; also name = ... in a \\[launcher] table of --config).",
        autocompletion=complete_names("launcher"),
        rich_help_panel=PANEL,
    )
    return inspect.Parameter(
        "launcher", inspect.Parameter.KEYWORD_ONLY, default=flag, annotation=str | None
    )


def _seeds_parameter() -> inspect.Parameter:
    flag = typer.Option(
        None,
        "--seeds",
        help="Repeat everything once per seed, comma-separated (e.g. 0,1,2): mean ± std "
        "over seeds (default: --seed alone).",
        rich_help_panel=PANEL,
    )
    return inspect.Parameter(
        "seeds", inspect.Parameter.KEYWORD_ONLY, default=flag, annotation=str | None
    )


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``"0,1,2"`` -> ``(0, 1, 2)``, with one clear line for anything else."""
    if text is None:
        return None
    from gvetool.config.schema import names_in

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
