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

# The Python API's names (gvetool.user_api.__all__, which a test keeps equal to this).
API_NAMES = (
    "CheckpointError",
    "ConfigError",
    "Counterfactual",
    "CrossValidation",
    "DataError",
    "Description",
    "Evaluation",
    "Explainer",
    "Explanation",
    "FeatureStoreInfo",
    "Fold",
    "GvetoolError",
    "GvetoolWarning",
    "Interrupted",
    "Reproduction",
    "Run",
    "UnknownNameError",
    "compute_features",
    "cross_validate",
    "dataset_info",
    "download_dataset",
    "evaluate",
    "generate_dataset",
    "list_datasets",
    "list_encoders",
    "list_launchers",
    "list_metrics",
    "list_models",
    "list_trackers",
    "load",
    "prepare_dataset",
    "reproduce",
    "run_demo",
    "runs",
    "split_classes",
    "train",
    "transfer",
)
# Plugin names this package exported before gvetool.plugin_api; they go in 0.4.
_MOVED_TO_PLUGIN_API = ("DatasetSpec", "EncoderSpec", "ModelSpec", "hookimpl")

__all__ = ["__version__", *API_NAMES]


def __getattr__(name: str) -> Any:
    if name in API_NAMES:
        from gvetool import user_api

        return getattr(user_api, name)
    if name in _MOVED_TO_PLUGIN_API:
        from gvetool import plugin_api

        warnings.warn(
            f"gvetool.{name} is deprecated and goes in gvetool 0.4; "
            f"import it from gvetool.plugin_api",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(plugin_api, name)
    raise AttributeError(f"module 'gvetool' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
