"""gvetool: train and evaluate image describers (LRCN) and visual explainers (GVE).

The Python API (held by :mod:`gvetool.user_api`)::

    import gvetool
    run = gvetool.train("gve", dataset="synth", data_root="birds", epochs=5)
    result = gvetool.evaluate(run.best, split="test")
    gvetool.load(run.best).explain(images=["photo.jpg"], classes="Laysan Albatross")

Importing the package costs nothing: the CLI must start fast (and a Ctrl-C while it
starts must land in code that can report it), so the API is imported on the first use of
one of its names. Plugin packages import from :mod:`gvetool.plugin_api` instead.
"""

from __future__ import annotations

import warnings
from typing import Any

# The error classes cost nothing to import (the standard library only) and a caller's
# ``except gvetool.GvetoolError`` must not load torch.
from gvetool.utils.errors import CheckpointError as CheckpointError
from gvetool.utils.errors import ConfigError as ConfigError
from gvetool.utils.errors import DataError as DataError
from gvetool.utils.errors import GvetoolError as GvetoolError
from gvetool.utils.errors import UnknownNameError as UnknownNameError

__version__ = "0.2.0"

# Plugin names this package exported before gvetool.plugin_api; they go in 0.4.
_MOVED_TO_PLUGIN_API = ("DatasetSpec", "EncoderSpec", "ModelSpec", "hookimpl")


# gvetool.serve(...) and gvetool.study.make/score, from the packages above user_api.
_APPS = {"serve": "gvetool.explorer", "study": "gvetool.study"}


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_PLUGIN_API:
        import gvetool.plugin_api as plugin_api

        warnings.warn(
            f"gvetool.{name} is deprecated and goes in gvetool 0.4; "
            f"import it from gvetool.plugin_api",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(plugin_api, name)
    if name in _APPS:  # the explorer and the study kit sit above the API they are built on
        import importlib

        module = importlib.import_module(_APPS[name])
        return getattr(module, name) if name == "serve" else module
    if name.startswith("__") and name != "__all__":  # probes by tools: no import for them
        raise AttributeError(f"module 'gvetool' has no attribute {name!r}")
    # The API's names are its __all__, imported on first use. Not "from gvetool import":
    # that asks this function for the submodule first, and again, without end.
    import gvetool.user_api as user_api

    if name == "__all__":
        return ["__version__", *user_api.__all__, *_APPS]
    if name in user_api.__all__:
        return getattr(user_api, name)
    raise AttributeError(f"module 'gvetool' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __getattr__("__all__")
