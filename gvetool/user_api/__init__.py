"""gvetool from Python: every command's work as a function with typed results.

    import gvetool
    sc = gvetool.train("sc", dataset="synth", data_root="birds", epochs=5)
    run = gvetool.train("gve", dataset="synth", data_root="birds", epochs=5, hidden_size=256)
    result = gvetool.evaluate(run.best, split="test")
    gvetool.load(run.best).explain(["..."])

``gvetool`` re-exports every name below on first use; this package holds them, a module
per job. A user error raises :class:`~gvetool.utils.errors.GvetoolError` (or a subclass)
with the line the CLI prints, never ``SystemExit``. Nothing is printed unless
``progress=True``; warnings are Python warnings (:class:`~gvetool.utils.console.GvetoolWarning`).
Ctrl-C stops a training run after its step, saves ``last.pt`` and raises
:class:`~gvetool.engine.interrupt.Interrupted`; ``train(resume=run.directory)`` continues it.
"""

from gvetool.engine.interrupt import Interrupted
from gvetool.evaluation.evaluate import Evaluation
from gvetool.user_api.datasets import (
    compute_features,
    dataset_info,
    download_dataset,
    generate_dataset,
    prepare_dataset,
    split_classes,
)
from gvetool.user_api.evaluating import evaluate
from gvetool.user_api.experiments import cross_validate, reproduce, run_demo
from gvetool.user_api.explainer import (
    Counterfactual,
    Description,
    Explainer,
    Explanation,
    PhotoExplanation,
    load,
)
from gvetool.user_api.listings import (
    list_datasets,
    list_encoders,
    list_launchers,
    list_metrics,
    list_models,
    list_trackers,
)
from gvetool.user_api.results import CrossValidation, FeatureStoreInfo, Fold, Reproduction, Run
from gvetool.user_api.training import runs, train, transfer
from gvetool.utils.console import GvetoolWarning
from gvetool.utils.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    GvetoolError,
    UnknownNameError,
)

__all__ = [
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
    "PhotoExplanation",
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
]
