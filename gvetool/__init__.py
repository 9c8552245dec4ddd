"""gvetool: train and evaluate image describers (LRCN) and visual explainers (GVE).

The Python API (:mod:`gvetool.library`, :mod:`gvetool.explainer`)::

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
    "train": "gvetool.library",
    "evaluate": "gvetool.library",
    "cross_validate": "gvetool.library",
    "transfer": "gvetool.library",
    "reproduce": "gvetool.library",
    "runs": "gvetool.library",
    "generate_dataset": "gvetool.library",
    "list_models": "gvetool.library",
    "list_datasets": "gvetool.library",
    "list_encoders": "gvetool.library",
    "Run": "gvetool.library",
    "CrossValidation": "gvetool.library",
    "Fold": "gvetool.library",
    "Reproduction": "gvetool.library",
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
