"""Plugin discovery and the name registries the rest of gvetool asks.

Plugins are found through the ``gvetool`` entry-point group (built-ins included) and
loaded one by one, so one broken plugin costs a warning, not the tool:

* a plugin whose import or registration raises is skipped with one warning line naming it;
  whatever it registered before failing is rolled back;
* ``GVETOOL_DISABLE_PLUGINS=name,...`` skips plugins by entry-point name, without importing
  them (the way out of a broken or clashing plugin);
* two plugins registering the same model, dataset, encoder, metric, tracker or launcher
  name is one warning, and that name alone is refused when used (an error naming both
  distributions: silently picking one would make runs irreproducible); a second entry
  point of an existing plugin name is skipped with a warning.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
from collections.abc import Iterable
from functools import cache
from typing import Any

import pluggy

from gvetool.kernel import hookspecs
from gvetool.kernel.registry import DISABLE_ENV, PluginInfo, Registry
from gvetool.kernel.specs import (
    DatasetSpec,
    EncoderSpec,
    LauncherSpec,
    MetricSpec,
    ModelSpec,
    TrackerSpec,
)
from gvetool.utils import console

ENTRY_POINT_GROUP = "gvetool"
__all__ = ["DISABLE_ENV", "PluginInfo", "Plugins", "Registry", "get_plugins", "load_plugins"]


class Plugins:
    """The loaded plugins and their registries; build one with :func:`load_plugins`."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        self.models: Registry[ModelSpec] = Registry(ModelSpec)
        self.datasets: Registry[DatasetSpec] = Registry(DatasetSpec)
        self.encoders: Registry[EncoderSpec] = Registry(EncoderSpec)
        self.metrics: Registry[MetricSpec] = Registry(MetricSpec)
        self.trackers: Registry[TrackerSpec] = Registry(TrackerSpec)
        self.launchers: Registry[LauncherSpec] = Registry(LauncherSpec)

    def captioners(self) -> list[str]:
        """Names of the models that write sentences, for messages that list them."""
        return [name for name in self.models.names() if self.models.get(name).task.generates]

    @property
    def registries(self) -> tuple[Registry[Any], ...]:
        return (
            self.models,
            self.datasets,
            self.encoders,
            self.metrics,
            self.trackers,
            self.launchers,
        )

    def add(self, plugin: object, info: PluginInfo) -> None:
        """Register one plugin object and collect its specs; roll back if it fails.

        Any exception, ``SystemExit`` included, marks the plugin as failed with a warning
        and leaves the rest intact; a name it shares with another plugin is warned about
        and refused when used.
        """
        self.infos.append(info)
        try:
            self.manager.register(plugin, name=info.name)
            for registry in self.registries:
                self._call_registration(info, registry)
        except (Exception, SystemExit) as exc:
            self._rollback(plugin, info)
            self._fail(info, f"registration raised {type(exc).__name__}: {exc}")

    def _call_registration(self, info: PluginInfo, registry: Registry[Any]) -> None:
        # Each plugin's hook is called with a register bound to that plugin, so clashes
        # and failures are attributed to the right distribution.
        def register(spec: Any) -> None:
            clash = registry.add(spec, info)
            if clash is not None:
                console.warn(f"{clash}; until then '{spec.name}' cannot be used")

        self.hook_of(f"gvetool_register_{registry.kind}s", info.name)(register=register)

    def hook_of(self, hook_name: str, plugin_name: str) -> Any:
        """The hook ``hook_name`` of plugin ``plugin_name`` alone, called through pluggy."""
        others = [p for name, p in self.manager.list_name_plugin() if name != plugin_name]
        return self.manager.subset_hook_caller(hook_name, remove_plugins=others)

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
        if ep.name in seen:  # built-ins load first, so a built-in name is never displaced
            console.warn(
                f"plugin '{ep.name}' of {info.label} was skipped: {seen[ep.name].label} is "
                "already called so; uninstall one of them"
            )
            continue
        seen[ep.name] = info
        if ep.name in disabled:
            info.status = "disabled"
            plugins.infos.append(info)
            continue
        try:
            module = ep.load()
        except (Exception, SystemExit) as exc:  # sys.exit() at import must not end gvetool
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
