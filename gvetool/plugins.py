"""Plugin discovery and the name registries the rest of gvetool asks.

Plugins are found through the ``gvetool`` entry-point group (built-ins included) and
loaded one by one, so one broken plugin costs a warning, not the tool:

* a plugin whose import or registration raises is skipped with one warning line naming it;
  whatever it registered before failing is rolled back;
* ``GVETOOL_DISABLE_PLUGINS=name,...`` skips plugins by entry-point name, without importing
  them (the way out of a broken or clashing plugin);
* two plugins registering the same model/dataset/encoder name is an error naming both
  distributions, because silently picking one would make runs irreproducible.
"""

from __future__ import annotations

import difflib
import importlib.metadata as metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pluggy

from gvetool import console, hookspecs
from gvetool.errors import GvetoolError
from gvetool.specs import DatasetSpec, EncoderSpec, ModelSpec, Spec

if TYPE_CHECKING:
    import typer

ENTRY_POINT_GROUP = "gvetool"
DISABLE_ENV = "GVETOOL_DISABLE_PLUGINS"

S = TypeVar("S", bound=Spec)


@dataclass
class PluginInfo:
    """What ``gvetool plugins`` reports about one entry point."""

    name: str
    distribution: str
    version: str
    module: str
    status: str = "loaded"  # loaded | failed | disabled
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.version} (plugin '{self.name}', module {self.module})"


class Registry(Generic[S]):
    """Name -> spec for one kind (model, dataset or encoder), remembering who gave what."""

    def __init__(self, spec_type: type[S]) -> None:
        self.spec_type = spec_type
        self.kind = spec_type.kind
        self._specs: dict[str, S] = {}
        self._providers: dict[str, PluginInfo] = {}

    def add(self, spec: S, provider: PluginInfo) -> None:
        if not isinstance(spec, self.spec_type):
            raise TypeError(
                f"gvetool_register_{self.kind}s got {type(spec).__name__}, "
                f"expected {self.spec_type.__name__}"
            )
        if spec.name in self._specs:
            other = self._providers[spec.name]
            raise GvetoolError(
                f"{self.kind} '{spec.name}' is registered twice: by {other.label} and by "
                f"{provider.label}; uninstall one of them or set "
                f"{DISABLE_ENV}={provider.name} (or {other.name})"
            )
        self._specs[spec.name] = spec
        self._providers[spec.name] = provider
        provider.registered.setdefault(self.kind, []).append(spec.name)

    def remove_from(self, provider: PluginInfo) -> None:
        """Forget everything ``provider`` registered (it failed half-way)."""
        for name in provider.registered.pop(self.kind, []):
            del self._specs[name]
            del self._providers[name]

    def get(self, name: str) -> S:
        """The spec called ``name``; an unknown name lists the known ones."""
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(sorted(self._specs)) or "none (is gvetool installed correctly?)"
            close = difflib.get_close_matches(name, list(self._specs), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise GvetoolError(
                f"unknown {self.kind} '{name}'; known {self.kind}s: {known}.{hint}"
            ) from None

    def provider(self, name: str) -> PluginInfo:
        self.get(name)
        return self._providers[name]

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


class Plugins:
    """The loaded plugins and their registries; build one with :func:`load_plugins`."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        self.models: Registry[ModelSpec] = Registry(ModelSpec)
        self.datasets: Registry[DatasetSpec] = Registry(DatasetSpec)
        self.encoders: Registry[EncoderSpec] = Registry(EncoderSpec)

    @property
    def registries(self) -> tuple[Registry[Any], ...]:
        return (self.models, self.datasets, self.encoders)

    def add(self, plugin: object, info: PluginInfo) -> None:
        """Register one plugin object and collect its specs; roll back if it fails.

        Duplicate names are re-raised (they are the user's to resolve); any other
        exception marks the plugin as failed with a warning and leaves the rest intact.
        """
        self.infos.append(info)
        try:
            self.manager.register(plugin, name=info.name)
            for registry in self.registries:
                self._call_registration(info, registry)
        except GvetoolError:
            self._rollback(plugin, info)
            raise
        except Exception as exc:
            self._rollback(plugin, info)
            self._fail(info, f"registration raised {type(exc).__name__}: {exc}")

    def _call_registration(self, info: PluginInfo, registry: Registry[Any]) -> None:
        # Each plugin's hook is called with a register bound to that plugin, so clashes
        # and failures are attributed to the right distribution.
        hook = getattr(self.manager.hook, f"gvetool_register_{registry.kind}s")
        for impl in hook.get_hookimpls():
            if impl.plugin_name == info.name:
                impl.function(**{"register": lambda spec: registry.add(spec, info)})

    def _rollback(self, plugin: object, info: PluginInfo) -> None:
        for registry in self.registries:
            registry.remove_from(info)
        if self.manager.is_registered(plugin):
            self.manager.unregister(plugin)

    def _fail(self, info: PluginInfo, reason: str) -> None:
        info.status, info.error = "failed", reason
        console.warn(
            f"plugin '{info.name}' from {info.distribution} {info.version} was skipped: "
            f"{reason}. Reinstall or fix it, or set {DISABLE_ENV}={info.name} to silence this."
        )

    def add_commands(self, app: typer.Typer) -> None:
        """Let every loaded plugin add CLI commands; a name already taken is refused."""
        for info in self.infos:
            if info.status != "loaded":
                continue
            info.commands = []
            taken = _command_names(app)
            lists = (app.registered_commands, app.registered_groups)
            starts = [len(entries) for entries in lists]
            try:
                for impl in self.manager.hook.gvetool_register_commands.get_hookimpls():
                    if impl.plugin_name == info.name:
                        impl.function(app=app)
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


def _command_names(app: typer.Typer) -> set[str]:
    return {_name_of(c) for c in app.registered_commands} | {
        _name_of(g) for g in app.registered_groups
    }


def disabled_names(environ: dict[str, str] | None = None) -> set[str]:
    """Plugin names listed in ``GVETOOL_DISABLE_PLUGINS`` (comma or space separated)."""
    raw = (os.environ if environ is None else environ).get(DISABLE_ENV, "")
    return {part.strip() for part in raw.replace(",", " ").split() if part.strip()}


def load_plugins(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    disabled: set[str] | None = None,
) -> Plugins:
    """Discover and register every plugin of the ``gvetool`` entry-point group."""
    if entry_points is None:
        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    disabled = disabled_names() if disabled is None else disabled
    plugins = Plugins()
    seen: dict[str, PluginInfo] = {}
    for ep in sorted(entry_points, key=_builtin_first):
        info = _info_for(ep)
        if ep.name in seen:
            raise GvetoolError(
                f"two plugins are both called '{ep.name}': {seen[ep.name].label} and "
                f"{info.label}; uninstall one of them"
            )
        seen[ep.name] = info
        if ep.name in disabled:
            info.status = "disabled"
            plugins.infos.append(info)
            continue
        try:
            module = ep.load()
        except Exception as exc:
            plugins.infos.append(info)
            plugins._fail(info, f"import raised {type(exc).__name__}: {exc}")
            continue
        plugins.add(module, info)
    return plugins


def _builtin_first(ep: metadata.EntryPoint) -> tuple[int, str, str]:
    """Built-ins first, then the rest by name: a stable, documented load order."""
    dist = ep.dist.name if ep.dist else ""
    return (0 if dist == hookspecs.PROJECT_NAME else 1, dist, ep.name)


def _info_for(ep: metadata.EntryPoint) -> PluginInfo:
    dist = ep.dist
    return PluginInfo(
        name=ep.name,
        distribution=dist.name if dist else "unknown",
        version=dist.version if dist else "?",
        module=ep.value,
    )


@cache
def get_plugins() -> Plugins:
    """The process-wide plugins, loaded once on first use."""
    return load_plugins()


def reset_plugins() -> None:
    """Forget the loaded plugins (tests that install plugins at run time)."""
    get_plugins.cache_clear()
