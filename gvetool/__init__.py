"""gvetool: train and evaluate image describers (LRCN) and visual explainers (GVE).

Importing the package costs nothing: the CLI must start fast (and a Ctrl-C while it
starts must land in code that can report it), so the names plugin packages import from
here — :data:`hookimpl` and the spec classes — are loaded on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

__all__ = ["DatasetSpec", "EncoderSpec", "ModelSpec", "__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        from gvetool.hookspecs import hookimpl

        return hookimpl
    if name in ("DatasetSpec", "EncoderSpec", "ModelSpec"):
        from gvetool import specs

        return getattr(specs, name)
    raise AttributeError(f"module 'gvetool' has no attribute {name!r}")
