"""gvetool-mlflow: every training run tracked in MLflow.

``gvetool train ... --tracker mlflow`` logs the run's resolved configuration as params
(and ``config.toml`` as an artifact), each epoch's train and validation numbers as metrics
by epoch, and ``best.pt`` as an artifact when the run ends. Where to: ``MLFLOW_TRACKING_URI``
(a tracking server, ``http://host:5000``, or a local store), else ``file:<out>/mlruns``
beside the runs; the experiment is ``MLFLOW_EXPERIMENT_NAME``, else ``gvetool``. A resumed
run continues the same MLflow run (its id is kept in ``<run>/mlflow.json``).
"""

from gvetool.plugin_api import TrackerSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def gvetool_register_trackers(register):
    register(
        TrackerSpec(
            name="mlflow",
            description="MLflow: params, per-epoch metrics, config and best.pt "
            "(MLFLOW_TRACKING_URI, default file:<out>/mlruns)",
            target="gvetool_mlflow.tracker:MlflowTracker",
        )
    )
