"""The tracker: MLflow's client API, no global "active run" state (gvetool may run
several trainings in one process: cross-validation folds, reproduce's models)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gvetool.plugin_api import TrackedRun, TrackerUnavailable, read_json, write_json

STATE = "mlflow.json"  # in the run directory: which MLflow run a resume continues
STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


def tracking_uri(run: TrackedRun) -> str:
    """``MLFLOW_TRACKING_URI``, else a file store beside the runs (``<out>/mlruns``)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or (Path(run.config["out"]) / "mlruns").as_uri()


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """The config as MLflow params: nested tables (``model_options``) as dotted keys,
    ``None`` left out (MLflow params are strings, at most 6,000 characters)."""
    params: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            params.update(flat_params(value, f"{prefix}{key}."))
        elif value is not None:
            params[f"{prefix}{key}"] = str(value)[:6000]
    return params


class MlflowTracker:
    def __init__(self) -> None:
        try:
            from mlflow.entities import Metric, Param
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise TrackerUnavailable("MLflow is not installed (pip install mlflow)") from None
        self._client_type, self._metric, self._param = MlflowClient, Metric, Param
        self.client: Any = None
        self.run_id = ""

    def start(self, run: TrackedRun) -> None:
        uri = tracking_uri(run)
        if uri.startswith("file:"):  # MLflow 3 asks file stores to opt in
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = self._client_type(tracking_uri=uri)
        self.run_dir, self.config_file = run.run_dir, run.run_dir / "config.toml"
        state = run.run_dir / STATE
        if run.resumed and state.is_file():
            self.run_id = read_json(state)["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "gvetool")
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(name)
        )
        tags = {
            "gvetool.model": run.model,
            "gvetool.dataset": run.dataset,
            "gvetool.run_dir": str(run.run_dir),
        }
        created = self.client.create_run(experiment_id, run_name=run.run_dir.name, tags=tags)
        self.run_id = created.info.run_id
        write_json(state, {"run_id": self.run_id, "tracking_uri": uri})
        params = [self._param(k, v) for k, v in flat_params(run.config).items()]
        for start in range(0, len(params), 100):  # MLflow takes 100 params per batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])
        if self.config_file.is_file():
            self.client.log_artifact(self.run_id, str(self.config_file))

    def log_epoch(self, record: Any) -> None:
        entry = record.entry
        stamp = int(time.time() * 1000)
        metrics = [
            self._metric(f"{group}/{key}", float(value), stamp, int(entry["epoch"]))
            for group in ("train", "val")
            for key, value in entry[group].items()
        ]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, status: str, best: Path | None) -> None:
        if best is not None and best.is_file():
            self.client.log_artifact(self.run_id, str(best), artifact_path="checkpoints")
        self.client.set_terminated(self.run_id, status=STATUS.get(status, "FAILED"))
