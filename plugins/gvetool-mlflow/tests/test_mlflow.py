"""The MLflow tracker against a local file store, offline: params, per-epoch metrics,
config and best.pt after a train, the same MLflow run after a resume, a dead server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from gvetool.plugin_api import SynthOptions, reset_plugins
from gvetool.plugin_api import generate_synth as generate
from gvetool.plugin_api import run_cli as main

TINY = [
    "--hidden-size",
    "16",
    "--embedding-size",
    "16",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
    "--val-metrics",
    "bleu,cider",
]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("GVETOOL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GVETOOL_QUIET", "1")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    reset_plugins()


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    root = tmp_path_factory.mktemp("birds") / "cub"
    generate(
        root,
        SynthOptions(
            classes=3,
            images_per_class=6,
            captions_per_image=2,
            image_size=32,
            feature_dim=8,
            seed=2,
        ),
    )
    return root


def _train(birds: Path, out: Path, *extra: str) -> int:
    args = ["train", "lrcn", "--dataset", "cub", "--data-root", str(birds), "--out", str(out)]
    return main([*args, *TINY, "--tracker", "mlflow", *extra])


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def test_a_run_and_its_resume_are_one_mlflow_run_with_params_metrics_and_best(birds, tmp_path):
    out = tmp_path / "runs"
    assert _train(birds, out, "--epochs", "2") == 0
    (run,) = out.glob("lrcn-cub-*")
    state = json.loads((run / "mlflow.json").read_text())
    assert state["tracking_uri"] == (out / "mlruns").as_uri()  # the default store
    client = MlflowClient(state["tracking_uri"])
    tracked = client.get_run(state["run_id"])
    assert tracked.info.status == "FINISHED" and tracked.info.run_name == run.name
    assert tracked.data.params["model"] == "lrcn" and tracked.data.params["hidden_size"] == "16"
    assert tracked.data.tags["gvetool.dataset"] == "cub"
    assert _steps(client, state["run_id"], "val/CIDEr") == [1, 2]
    assert _steps(client, state["run_id"], "train/loss") == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(state["run_id"])}
    assert "config.toml" in artifacts
    assert [a.path for a in client.list_artifacts(state["run_id"], "checkpoints")] == [
        "checkpoints/best.pt"
    ]

    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0
    assert json.loads((run / "mlflow.json").read_text())["run_id"] == state["run_id"]
    assert _steps(client, state["run_id"], "val/CIDEr") == [1, 2, 3]
    assert client.get_run(state["run_id"]).info.status == "FINISHED"
    experiment = client.get_experiment_by_name("gvetool")
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_the_tracking_uri_and_experiment_come_from_mlflows_own_variables(
    birds, tmp_path, monkeypatch
):
    store = tmp_path / "elsewhere"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "birds")
    assert _train(birds, tmp_path / "runs", "--epochs", "1") == 0
    client = MlflowClient(store.as_uri())
    experiment = client.get_experiment_by_name("birds")
    (tracked,) = client.search_runs([experiment.experiment_id])
    assert tracked.data.params["dataset"] == "cub"
    assert not (tmp_path / "runs" / "mlruns").exists()


def test_a_tracking_server_that_is_down_is_one_warning_and_training_goes_on(
    birds, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    assert _train(birds, tmp_path / "runs", "--epochs", "2") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "tracker" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: tracker 'mlflow' failed (")
    assert warnings[0].endswith("training goes on without it")
    (run,) = (tmp_path / "runs").glob("lrcn-cub-*")
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
