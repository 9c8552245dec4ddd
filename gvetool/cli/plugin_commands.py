"""Plugin CLI commands merged into the ``gvetool`` Typer application.

Each plugin adds its commands through its ``gvetool_register_commands`` hook, called for
that plugin alone (so a failure or a clash is attributed to it); a command whose name is
already taken is not added, with a warning, and a plugin whose hook raises loses only
its own commands.
"""

from __future__ import annotations

from typing import Any

import typer

from gvetool.kernel.manager import Plugins
from gvetool.utils import console


def add_plugin_commands(plugins: Plugins, app: typer.Typer) -> None:
    """Let every loaded plugin add CLI commands; a name already taken is refused."""
    for info in plugins.infos:
        if info.status != "loaded":
            continue
        info.commands = []
        taken = command_names(app)
        lists = (app.registered_commands, app.registered_groups)
        starts = [len(entries) for entries in lists]
        try:
            plugins.hook_of("gvetool_register_commands", info.name)(app=app)
        except Exception as exc:
            for entries, start in zip(lists, starts, strict=True):
                del entries[start:]
            console.warn(
                f"plugin '{info.name}' failed to add its commands "
                f"({type(exc).__name__}: {exc}); they are not available"
            )
            continue
        for entries, start in zip(lists, starts, strict=True):
            added = entries[start:]
            del entries[start:]
            for entry in added:
                name = _name_of(entry)
                if name in taken:
                    console.warn(
                        f"plugin '{info.name}' tried to add command '{name}', which "
                        "already exists; its command was not added"
                    )
                    continue
                taken.add(name)
                info.commands.append(name)
                entries.append(entry)


def _name_of(entry: Any) -> str:
    """The CLI name Typer will give a registered command or sub-app."""
    if entry.name:
        return str(entry.name)
    callback = getattr(entry, "callback", None) or entry.typer_instance.info.callback
    return str(callback.__name__).lower().replace("_", "-")


def command_names(app: typer.Typer) -> set[str]:
    """The names an app's commands and sub-apps have on the command line."""
    return {_name_of(c) for c in app.registered_commands} | {
        _name_of(g) for g in app.registered_groups
    }
