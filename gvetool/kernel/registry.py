"""The name registries: each kind's specs by name (model, dataset, encoder, metric,
tracker), and who gave each.

Names are global: a name registered twice is refused when it is used, with an error
naming both distributions, because silently picking one would make runs irreproducible;
every other name of both plugins keeps working.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gvetool.kernel.specs import Spec
from gvetool.utils.errors import UnknownNameError

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
    """Name -> spec for one kind, remembering who gave what."""

    def __init__(self, spec_type: type[S]) -> None:
        self.spec_type = spec_type
        self.kind = spec_type.kind
        self._specs: dict[str, S] = {}
        self._providers: dict[str, PluginInfo] = {}
        self._clashes: dict[str, str] = {}  # name -> why it is refused

    def add(self, spec: S, provider: PluginInfo) -> str | None:
        """Register ``spec``; returns the clash message if its name was already taken (the
        name is then refused when used, and the first registration kept for listings)."""
        if not isinstance(spec, self.spec_type):
            raise TypeError(
                f"gvetool_register_{self.kind}s got {type(spec).__name__}, "
                f"expected {self.spec_type.__name__}"
            )
        if spec.name in self._specs:
            other = self._providers[spec.name]
            self._clashes[spec.name] = (
                f"{self.kind} '{spec.name}' is registered twice: by {other.label} and by "
                f"{provider.label}; uninstall one of them or set "
                f"{DISABLE_ENV}={provider.name} (or {other.name})"
            )
            return self._clashes[spec.name]
        self._specs[spec.name] = spec
        self._providers[spec.name] = provider
        provider.registered.setdefault(self.kind, []).append(spec.name)
        return None

    def remove_from(self, provider: PluginInfo) -> None:
        """Forget everything ``provider`` registered (it failed half-way)."""
        for name in provider.registered.pop(self.kind, []):
            del self._specs[name]
            del self._providers[name]
            self._clashes.pop(name, None)

    def get(self, name: str) -> S:
        """The spec called ``name``; an unknown name lists the known ones, a name two
        plugins registered is refused naming both."""
        if name in self._clashes:
            raise UnknownNameError(self._clashes[name])
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self.names()) or "none (is gvetool installed correctly?)"
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'; known {self.kind}s: {known}.{hint}"
            ) from None

    def provider(self, name: str) -> PluginInfo:
        self.get(name)
        return self._providers[name]

    def names(self) -> list[str]:
        """The usable names, sorted: a name two plugins registered is left out (it is
        refused when used, and ``gvetool plugins`` shows the clash), so that code listing
        a kind never trips over it."""
        return sorted(name for name in self._specs if name not in self._clashes)

    def in_order(self) -> list[S]:
        """The usable specs in the order registered (built-ins first): the order a
        kind's defaults and table columns follow."""
        return [spec for name, spec in self._specs.items() if name not in self._clashes]

    def __contains__(self, name: object) -> bool:
        return name in self._specs
