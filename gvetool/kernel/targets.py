"""Resolving a plugin's ``"module:attribute"`` targets, importing the module on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from gvetool.utils.errors import GvetoolError


def resolve_target(target: Callable[..., Any] | str, what: str) -> Callable[..., Any]:
    if callable(target):
        return target
    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise GvetoolError(
            f"{what} could not be loaded from {target} ({type(exc).__name__}: {exc}); "
            "reinstall the package that provides it"
        ) from exc
    return obj  # type: ignore[no-any-return]
