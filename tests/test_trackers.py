"""Trackers as plugins: told of every run and epoch, resumed with the run, never fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gvetool.cli import main

SMALL = [
    "--hidden-size",
    "16",
    "--embedding-size",
    "16",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
    "--val-metrics",
    "bleu",
]

RECORDER = """
import json, os
from gvetool.plugin_api import TrackerSpec, hookimpl

class Recorder:
    def __init__(self):
        self.path = os.environ["RECORDER_FILE"]

    def _add(self, *event):
        events = json.load(open(self.path)) if os.path.exists(self.path) else []
        json.dump(events + [list(event)], open(self.path, "w"))

    def start(self, run):
        self._add("start", run.resumed, len(run.history), run.config["model"], run.model)

    def log_epoch(self, record):
        self._add("epoch", record.entry["epoch"], sorted(record.entry["val"]), record.improved)

    def finish(self, status, best):
        self._add("finish", status, best.name if best else None)

class Broken(Recorder):
    def log_epoch(self, record):
        raise RuntimeError("disk full\\nmore lines nobody needs")

@hookimpl
def gvetool_register_trackers(register):
    register(TrackerSpec(name="recorder", description="writes what it is told",
                         target=Recorder))
    register(TrackerSpec(name="broken", description="fails every epoch", target=Broken))
"""


@pytest.fixture
def recorded(fake_dist, tmp_path, monkeypatch) -> Path:
    fake_dist("gvetool-recorder", "recorder_plugin", RECORDER)
    path = tmp_path / "events.json"
    monkeypatch.setenv("RECORDER_FILE", str(path))
    return path


def _train(root: Path, out: Path, *extra: str) -> int:
    args = ["train", "lrcn", "--dataset", "cub", "--data-root", str(root), "--out", str(out)]
    return main([*args, *SMALL, *extra])


def _events(path: Path) -> list[list]:
    return json.loads(path.read_text())


def test_a_tracker_is_told_of_the_run_each_epoch_and_the_end_and_resumes_with_it(
    recorded, tiny_cub_master, tmp_path
):
    assert _train(tiny_cub_master, tmp_path / "runs", "--epochs", "2", "--tracker", "recorder") == 0
    (run,) = (tmp_path / "runs").glob("lrcn-cub-*")
    assert _events(recorded) == [
        ["start", False, 0, "lrcn", "lrcn"],
        ["epoch", 1, ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"], True],
        ["epoch", 2, ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"], _events(recorded)[2][3]],
        ["finish", "finished", "best.pt"],
    ]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # always on
    recorded.unlink()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0
    events = _events(recorded)  # the saved config keeps the tracker; only epoch 3 is new
    assert events[0] == ["start", True, 2, "lrcn", "lrcn"]
    assert [e[1] for e in events if e[0] == "epoch"] == [3]
    assert events[-1] == ["finish", "finished", "best.pt"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3


def test_a_failing_tracker_is_one_warning_and_training_goes_on(
    recorded, tiny_cub_master, tmp_path, capsys
):
    args = ["--epochs", "2", "--tracker", "broken,recorder"]
    assert _train(tiny_cub_master, tmp_path / "runs", *args) == 0
    err = capsys.readouterr().err
    assert err.count("tracker 'broken' failed") == 1
    assert (
        "warning: tracker 'broken' failed (RuntimeError: disk full); training goes on without it"
        in err
    )
    (run,) = (tmp_path / "runs").glob("lrcn-cub-*")
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert [e[0] for e in _events(recorded)] == ["start", "start", "epoch", "epoch", "finish"]


def test_the_tracker_comes_from_toml_too_and_an_unknown_one_is_refused_before_work(
    recorded, tiny_cub_master, tmp_path, capsys
):
    config = tmp_path / "run.toml"
    config.write_text('tracker = "recorder"\nepochs = 1\n')
    assert _train(tiny_cub_master, tmp_path / "runs", "--config", str(config)) == 0
    assert [e[0] for e in _events(recorded)] == ["start", "epoch", "finish"]
    capsys.readouterr()
    assert _train(tiny_cub_master, tmp_path / "other", "--tracker", "recorde") == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: unknown tracker 'recorde'; known trackers: ")
    assert line.endswith("Did you mean 'recorder'?") and not (tmp_path / "other").exists()
