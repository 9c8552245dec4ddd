"""gvetool: train and evaluate image describers (LRCN) and visual explainers (GVE).

The Python API (:mod:`gvetool.user_api`, :mod:`gvetool.explainer`)::

    import gvetool
    run = gvetool.train("gve", dataset="synth", data_root="birds", epochs=5)
    result = gvetool.evaluate(run.best, split="test")
    gvetool.load(run.best).explain(images=["photo.jpg"], classes="Laysan Albatross")

Importing the package costs nothing: the CLI must start fast (and a Ctrl-C while it
starts must land in code that can report it), so every name here is loaded on first use.
Plugin packages import from :mod:`gvetool.api` instead.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_NAMES = {
    "load": "gvetool.explainer",
    "Explainer": "gvetool.explainer",
    "Description": "gvetool.explainer",
    "Explanation": "gvetool.explainer",
    "Counterfactual": "gvetool.explainer",
    "train": "gvetool.user_api",
    "evaluate": "gvetool.user_api",
    "cross_validate": "gvetool.user_api",
    "transfer": "gvetool.user_api",
    "reproduce": "gvetool.user_api",
    "runs": "gvetool.user_api",
    "generate_dataset": "gvetool.user_api",
    "prepare_dataset": "gvetool.user_api",
    "download_dataset": "gvetool.user_api",
    "compute_features": "gvetool.user_api",
    "dataset_info": "gvetool.user_api",
    "split_classes": "gvetool.user_api",
    "run_demo": "gvetool.user_api",
    "FeatureStoreInfo": "gvetool.user_api",
    "list_models": "gvetool.user_api",
    "list_datasets": "gvetool.user_api",
    "list_encoders": "gvetool.user_api",
    "list_metrics": "gvetool.user_api",
    "list_trackers": "gvetool.user_api",
    "list_launchers": "gvetool.user_api",
    "Run": "gvetool.user_api",
    "CrossValidation": "gvetool.user_api",
    "Fold": "gvetool.user_api",
    "Reproduction": "gvetool.user_api",
    "Evaluation": "gvetool.evaluation.evaluate",
    "GvetoolError": "gvetool.errors",
    "ConfigError": "gvetool.errors",
    "UnknownNameError": "gvetool.errors",
    "CheckpointError": "gvetool.errors",
    "DataError": "gvetool.errors",
    "Interrupted": "gvetool.engine.interrupt",
    "GvetoolWarning": "gvetool.console",
    # kept for plugins written before gvetool.api
    "hookimpl": "gvetool.hookspecs",
    "DatasetSpec": "gvetool.specs",
    "EncoderSpec": "gvetool.specs",
    "ModelSpec": "gvetool.specs",
}

__all__ = ["__version__", *sorted(_NAMES)]


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'gvetool' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)


def __dir__() -> list[str]:
    return __all__
