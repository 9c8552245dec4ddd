"""Command-line options built from :class:`gvetool.config.schema.TrainConfig`'s declarations.

Each config key's type, help and default live once, in the config; a command lists the
keys it offers and receives what the user gave as ``given`` (only the options given,
paths as strings), ready for :func:`gvetool.config.resolution.resolve`. The help shows the
default, or what an unset option means for that command (``as the source``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from gvetool.config.schema import KEYS, TrainConfig
from gvetool.kernel.options import without_none

F = TypeVar("F", bound=Callable[..., Any])
_DEFAULTS = TrainConfig()


def _parameter(key: str, unset: str | None, required: bool) -> inspect.Parameter:
    declared = KEYS[key]
    kind = typing.get_type_hints(TrainConfig)[key]
    base = without_none(kind)
    if declared.metadata.get("path"):
        base = Path
    inheritable = not declared.metadata.get("location")
    default = unset if unset is not None and inheritable else _shown(getattr(_DEFAULTS, key))
    # Typer's own style, as every other option shows its default ("[default: 50]"); set
    # by hand because the option's real default is None (not given).
    shown = "" if required or default is None else f" \\[default: {default}]"  # not markup
    help_text = declared.metadata["help"] + shown
    option = typer.Option(
        ... if required else None,
        help=help_text,
        show_default=False,
        autocompletion=COMPLETIONS.get(key),
    )
    annotation = base if required else base | None
    return inspect.Parameter(
        key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
    )


def complete_names(kind: str, listed: bool = False) -> Callable[[str], list[str]]:
    """Shell completion of a registered model, dataset, encoder, metric or tracker name;
    ``listed``: of the last name of a comma-separated list (``--metrics cider,le``)."""

    def complete(incomplete: str) -> list[str]:
        from gvetool.kernel.manager import get_plugins

        head, comma, last = incomplete.rpartition(",") if listed else ("", "", incomplete)
        registry = getattr(get_plugins(), f"{kind}s")
        return [head + comma + name for name in registry.names() if name.startswith(last)]

    return complete


COMPLETIONS = {kind: complete_names(kind) for kind in ("model", "dataset", "encoder")}
COMPLETIONS |= {
    "val_metrics": complete_names("metric", listed=True),
    "tracker": complete_names("tracker", listed=True),
}


def _shown(value: Any) -> str | None:
    """The default as help shows it; ``None`` where the help text says what unset means."""
    if value is None or value == "":
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def model_option_parameters(taken: set[str]) -> list[inspect.Parameter]:
    """A ``--key`` option for every option a registered model declares (its help names
    the models), except where a name is ``taken`` (a config key, the command's own)."""
    from gvetool.kernel.manager import get_plugins

    models = get_plugins().models
    owners = [(name, models.get(name).options) for name in models.names()]
    return option_parameters(owners, taken, "Model options")


def option_parameters(
    owners: list[tuple[str, type | None]], taken: set[str], panel: str
) -> list[inspect.Parameter]:
    """A ``--key`` flag for every field of the owners' options dataclasses (models',
    launchers'), in the help's ``panel``, its help naming the owners that declare it;
    names already ``taken`` by the command are left out."""
    declared: dict[str, tuple[Any, Any, list[str]]] = {}
    for name, options in owners:
        if options is None:
            continue
        hints = typing.get_type_hints(options)
        for option in dataclasses.fields(options):
            if option.name not in taken and option.name.isidentifier():
                entry = declared.setdefault(option.name, (option, hints[option.name], []))
                entry[2].append(name)
    parameters = []
    for key, (option, kind, names) in declared.items():
        base = without_none(kind)
        default = None if option.default is dataclasses.MISSING else _shown(option.default)
        shown = "" if default is None else f" \\[default: {default}]"
        help_text = f"{', '.join(names)}: {option.metadata.get('help', '')}{shown}"
        flag = typer.Option(
            None,
            f"--{key.replace('_', '-')}",
            help=help_text,
            show_default=False,
            rich_help_panel=panel,
        )
        parameters.append(
            inspect.Parameter(
                key, inspect.Parameter.KEYWORD_ONLY, default=flag, annotation=base | None
            )
        )
    return parameters


def config_options(
    *keys: str,
    unset: str | None = None,
    required: tuple[str, ...] = (),
    model_options: bool = False,
) -> Callable[[F], F]:
    """Add ``--key`` options for these config keys to a Typer command.

    The command declares a ``given: dict`` parameter; it receives the options that were
    given. ``unset`` replaces the default in the help of inheritable keys (what an
    option left out means, e.g. ``as the source``). ``model_options``: also a ``--key``
    for each option a registered model declares (``--reinforce-weight``), given under
    its name; :mod:`gvetool.config.resolution` puts it into ``model_options``.
    """

    def add(command: F) -> F:
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in signature.parameters.values()
            if p.name != "given"
        ]
        extra = [_parameter(key, unset, key in required) for key in keys]
        if model_options:
            extra += model_option_parameters({*KEYS, *signature.parameters})
        names = [p.name for p in extra]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {key: kwargs.pop(key) for key in names}
            given = {k: v for k, v in given.items() if v is not None}
            return command(given=given, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return add
