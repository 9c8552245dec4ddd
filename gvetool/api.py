"""Deprecated name of :mod:`gvetool.plugin_api`, kept for plugins written for gvetool 0.2.

Every name still works and warns once per use site; the module goes in gvetool 0.4.
"""

from __future__ import annotations

import warnings
from typing import Any

from gvetool import plugin_api

__all__ = plugin_api.__all__


def __getattr__(name: str) -> Any:
    value = getattr(plugin_api, name)
    warnings.warn(
        "gvetool.api is deprecated and goes in gvetool 0.4; import from gvetool.plugin_api",
        DeprecationWarning,
        stacklevel=2,
    )
    return value


def __dir__() -> list[str]:
    return __all__
