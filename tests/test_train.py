"""Training end to end on tiny synthetic data: run dirs, determinism, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gvetool.builtins.datasets.synth import SynthOptions, generate
from gvetool.builtins.metrics.captions import spice_models
from gvetool.cli import main
from gvetool.config.resolution import resolve
from gvetool.config.schema import TrainConfig
from gvetool.engine.checkpoint import load_checkpoint
from gvetool.engine.steps import epoch_batches
from gvetool.utils.errors import GvetoolError

from .conftest import TINY

SMALL = [
    "--hidden-size",
    "16",
    "--embedding-size",
    "16",
    "--batch-size",
    "8",
    "--epochs",
    "2",
    "--val-metrics",
    "bleu,cider",
    "--lr",
    "0.01",
]


def _train(root: Path, out: Path, model: str, *extra: str) -> Path:
    args = ["train", model, "--dataset", "cub", "--data-root", str(root), "--out", str(out)]
    assert main([*args, *SMALL, *extra]) == 0
    runs = sorted(out.glob(f"{model}-cub-*"), key=os.path.getmtime)
    return runs[-1]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_a_run_trains_with_cudas_tf32_as_its_precision_says(tiny_cub_master, tmp_path, monkeypatch):
    """fp32 switches off the TF32 that PyTorch's default leaves on for cuDNN, for the run
    only; the flags are given back after it."""
    from gvetool.engine import trainer

    seen = []

    def recording(*args, **kwargs):
        seen.append(torch.backends.cudnn.allow_tf32)
        return backward_terms(*args, **kwargs)

    backward_terms = trainer.backward_terms
    monkeypatch.setattr(trainer, "backward_terms", recording)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    _train(tiny_cub_master, tmp_path, "lrcn")
    assert seen and not any(seen)
    assert torch.backends.cudnn.allow_tf32


def test_sc_then_gve_writes_complete_run_dirs(tiny_cub_master, tmp_path, capsys):
    sc_run = _train(tiny_cub_master, tmp_path, "sc")
    gve_run = _train(tiny_cub_master, tmp_path, "gve")
    captured = capsys.readouterr()
    assert f"using sentence classifier {sc_run / 'best.pt'}" in captured.err
    assert "epoch 2/2" in captured.out and "CIDEr" in captured.out and "reward" in captured.out
    assert "[best accuracy]" in captured.out and "[best CIDEr]" in captured.out  # not markup
    for run in (sc_run, gve_run):
        for name in ("config.toml", "metrics.jsonl", "last.pt", "best.pt", "run.json", "train.log"):
            assert (run / name).is_file(), (run, name)
    lines = (gve_run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert {"BLEU-4", "CIDEr"} <= set(json.loads(lines[0])["val"])
    checkpoint = load_checkpoint(gve_run / "last.pt", expect_model="gve")
    assert checkpoint["epoch"] == 2 and checkpoint["class_names"][0].startswith("001.")
    assert checkpoint["sentence_classifier"] == str(sc_run / "best.pt")
    saved = resolve(gve_run / "config.toml", {})
    assert saved.hidden_size == 16 and saved.model == "gve"


def test_same_seed_gives_identical_weights(tiny_cub_master, tmp_path):
    a = _train(tiny_cub_master, tmp_path / "a", "lrcn")
    b = _train(tiny_cub_master, tmp_path / "b", "lrcn")
    c = _train(tiny_cub_master, tmp_path / "c", "lrcn", "--seed", "1")
    state = {run: load_checkpoint(run / "last.pt")["state_dict"] for run in (a, b, c)}
    assert all(torch.equal(state[a][k], state[b][k]) for k in state[a])
    assert not all(torch.equal(state[a][k], state[c][k]) for k in state[a])


def test_gve_without_a_sentence_classifier_says_how_to_train_one(tiny_cub_master, tmp_path, capsys):
    args = ["train", "gve", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--out", str(tmp_path), *SMALL]) == 1
    line = _one_line(capsys)
    assert "needs a sentence classifier" in line
    assert f"gvetool train sc --dataset cub --data-root {tiny_cub_master}" in line


def test_sentence_classifier_of_another_class_set_is_refused(tiny_cub_master, tmp_path, capsys):
    other = tmp_path / "other"
    generate(other, SynthOptions(**{**TINY.__dict__, "classes": 3}))
    sc_run = _train(other, tmp_path / "runs", "sc")
    args = ["train", "gve", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--sc-ckpt", str(sc_run / "best.pt"), *SMALL]) == 1
    assert "was trained on another class set (3 classes) than 'cub' has (4)" in _one_line(capsys)


def test_a_checkpoint_of_another_model_is_refused(tiny_cub_master, tmp_path, capsys):
    lrcn_run = _train(tiny_cub_master, tmp_path, "lrcn")
    args = ["train", "gve", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--sc-ckpt", str(lrcn_run / "best.pt"), *SMALL]) == 1
    assert "is a 'lrcn' checkpoint, but a 'sc' checkpoint is needed" in _one_line(capsys)
    assert main(["train", "gve", "--resume", str(lrcn_run)]) == 1
    assert "is a 'lrcn' checkpoint, but a 'gve' checkpoint is needed" in _one_line(capsys)


def test_gve_on_a_dataset_without_classes_is_refused(tmp_path, capsys):
    root = tmp_path / "coco"
    generate(root, SynthOptions(**{**TINY.__dict__, "layout": "coco"}))
    assert main(["train", "gve", "--dataset", "coco", "--data-root", str(root)]) == 1
    assert "model 'gve' needs class labels and dataset 'coco' has none" in _one_line(capsys)


def test_unknown_config_key_suggests_the_closest(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('dataset = "cub"\nhiden_size = 16\n')
    assert main(["train", "lrcn", "--config", str(config)]) == 1
    assert "unknown config key 'hiden_size'; did you mean 'hidden_size'?" in _one_line(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0"], "lr must be > 0"),
        (["--dropout", "1.5"], "dropout must be in [0, 1)"),
        (["--epochs", "0"], "epochs must be >= 1"),
        (["--val-metrics", "bleu,spicy"], "unknown metric 'spicy'; known metrics: "),
    ],
)
def test_out_of_range_hyper_parameters(args, message, capsys):
    assert main(["train", "lrcn", "--dataset", "cub", *args]) == 1
    assert message in _one_line(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "max"], "model 'gve' options: baseline must be one of none, mean, greedy"),
        (["--reinforce-weight", "-1"], "model 'gve' options: reinforce_weight must be >= 0"),
        (["--model-option", "layers=2"], "model 'gve' has no option 'layers'"),
    ],
)
def test_a_models_own_options_are_checked_before_any_work(args, message, capsys):
    assert main(["train", "gve", "--dataset", "cub", *args]) == 1
    assert message in _one_line(capsys)


def test_config_file_values_and_command_line_precedence(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('dataset = "synth"\nhidden-size = 32\nlr = 1\n')
    resolved = resolve(config, {"model": "lrcn", "hidden_size": 8})
    assert (resolved.dataset, resolved.hidden_size, resolved.lr) == ("synth", 8, 1.0)
    config.write_text("epochs = 'many'\n")
    with pytest.raises(GvetoolError, match="epochs must be int"):
        resolve(config, {})


def test_resume_of_a_dir_without_a_checkpoint(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 1
    assert "no checkpoint to resume" in _one_line(capsys)


def test_resume_cannot_change_the_science(tiny_cub_master, tmp_path, capsys):
    run = _train(tiny_cub_master, tmp_path, "lrcn")
    assert main(["train", "--resume", str(run), "--lr", "0.5"]) == 1
    assert "--lr cannot change when resuming" in _one_line(capsys)


def test_a_full_disk_keeps_the_previous_checkpoint(tiny_cub_master, tmp_path, monkeypatch, capsys):
    run = _train(tiny_cub_master, tmp_path, "lrcn")
    before = (run / "last.pt").read_bytes()

    fsync = os.fsync

    def full(fd):  # the disk fills up once training writes its checkpoint
        if ".last.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(28, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 1
    line = _one_line(capsys)
    assert f"cannot write {run / 'last.pt'}: No space left on device" in line
    assert re.search(r"\(nothing was overwritten; \d+ MiB free in ", line)
    assert (run / "last.pt").read_bytes() == before
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_epoch_batches_are_fixed_by_seed_and_epoch_and_split_evenly():
    a = epoch_batches(21, 8, seed=0, epoch=3, world=2)
    assert [len(b) for b in a] == [8, 8, 4]
    assert [b.tolist() for b in a] == [b.tolist() for b in epoch_batches(21, 8, 0, 3, 2)]
    assert a[0].tolist() != epoch_batches(21, 8, 0, 4, 2)[0].tolist()
    assert sorted(x for b in epoch_batches(21, 8, 0, 0, 1) for x in b.tolist()) == list(range(21))


def test_config_round_trips_through_toml(tmp_path):
    options = {
        "reinforce_weight": 0.5,
        "baseline": "mean",
        "reward_dropout": "never",
        "reinforce_tokens": 64,
    }
    config = TrainConfig(
        model="gve",
        dataset="cub",
        sc_ckpt=None,
        lr=0.5,
        out=str(tmp_path),
        val_metrics="bleu,cider",
        model_options=options,
    )
    config.save(tmp_path / "config.toml")
    assert resolve(tmp_path / "config.toml", {}) == config


def test_resolved_paths_are_absolute_class_split_part_included(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    given = {
        "model": "lrcn",
        "data_root": "birds",
        "class_split": "split.json:2",
        "sc_ckpt": "~/sc.pt",
        "out": "runs",
    }
    config = resolve(None, given)
    assert config.data_root == str(tmp_path / "birds") and config.out == str(tmp_path / "runs")
    assert config.class_split == f"{tmp_path / 'split.json'}:2"
    assert config.sc_ckpt == str(Path.home() / "sc.pt")


def test_worker_processes_give_the_same_weights(tiny_cub_master, tmp_path):
    a = _train(tiny_cub_master, tmp_path / "a", "lrcn")
    b = _train(tiny_cub_master, tmp_path / "b", "lrcn", "--num-workers", "1")
    wa, wb = (load_checkpoint(run / "last.pt")["state_dict"] for run in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_tensorboard_events_when_the_extra_is_installed(tiny_cub_master, tmp_path, monkeypatch):
    import sys
    import types

    written: list[tuple[str, float, int]] = []

    class SummaryWriter:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, tag, value, step):
            written.append((tag, value, step))

        def flush(self):
            pass

        def close(self):
            pass

    monkeypatch.setitem(
        sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=SummaryWriter)
    )
    _train(tiny_cub_master, tmp_path, "lrcn")
    tags = {(tag, step) for tag, _, step in written}
    assert {("train/loss", 1), ("val/CIDEr", 2), ("val/BLEU-4", 1)} <= tags


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "inf"], "lr must be a finite number, got inf"),
        (["--reinforce-weight", "nan"], "reinforce_weight must be a finite number, got nan"),
    ],
)
def test_non_finite_hyper_parameters_are_refused_before_any_work(args, message, tmp_path, capsys):
    assert main(["train", "gve", "--dataset", "cub", "--out", str(tmp_path), *args]) == 1
    assert message in _one_line(capsys)
    assert not list(tmp_path.iterdir())


def test_nan_features_are_refused_naming_the_first_bad_image(tiny_cub, tmp_path, capsys):
    from gvetool.utils.safe_pickle import load_pickle

    path = tiny_cub / "CUB_feature_dict.p"
    features = load_pickle(path)
    bad = sorted(features)[3]
    features[bad] = features[bad].copy()
    features[bad][2] = np.nan
    path.write_bytes(pickle.dumps(features, protocol=2))
    assert (
        main(
            [
                "train",
                "lrcn",
                "--dataset",
                "cub",
                "--data-root",
                str(tiny_cub),
                "--out",
                str(tmp_path / "runs"),
                *SMALL,
            ]
        )
        == 1
    )
    line = _one_line(capsys)
    assert f"the feature of {bad} has NaN or infinite values" in line
    assert not (tmp_path / "runs").exists()


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(
    tiny_cub_master, tmp_path, capsys, monkeypatch
):
    from gvetool.builtins.models.captioner import Captioner

    real, calls = Captioner.caption_loss, []

    def turns_nan(self, batch):
        calls.append(1)
        loss = real(self, batch)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(Captioner, "caption_loss", turns_nan)
    args = [
        "train",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--out",
        str(tmp_path),
        *SMALL,
        "--checkpoint-every",
        "1",
    ]
    assert main(args) == 1
    line = _one_line(capsys)
    assert "training stopped: the loss became nan at epoch 1, step 3" in line
    (run,) = tmp_path.glob("lrcn-cub-*")
    assert f"{run / 'last.pt'} is the last good checkpoint" in line
    last = load_checkpoint(run / "last.pt")
    assert last["global_step"] == 2
    assert all(bool(torch.isfinite(v).all()) for v in last["state_dict"].values())


def test_best_pt_follows_the_chosen_metric_and_the_last_line_tells_the_truth(
    tiny_cub_master, tmp_path, capsys
):
    run = _train(tiny_cub_master, tmp_path, "lrcn", "--val-metrics", "bleu")
    assert (run / "best.pt").is_file()
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best_epoch = max(history, key=lambda h: h["val"]["BLEU-4"])["epoch"]
    assert load_checkpoint(run / "best.pt")["epoch"] == best_epoch
    assert f"run saved in {run} (best.pt, last.pt, metrics.jsonl)" in capsys.readouterr().out


def test_an_empty_training_split_is_refused_up_front(tiny_cub, tmp_path, capsys):
    path = tiny_cub / "descriptions_bird.train.fg.json"
    data = json.loads(path.read_text())
    data["annotations"] = []
    path.write_text(json.dumps(data))
    assert (
        main(
            [
                "train",
                "lrcn",
                "--dataset",
                "cub",
                "--data-root",
                str(tiny_cub),
                "--out",
                str(tmp_path / "runs"),
                *SMALL,
            ]
        )
        == 1
    )
    assert "the train split of 'cub' has no captions, nothing to train on" in _one_line(capsys)
    assert not (tmp_path / "runs").exists()


def test_a_checkpoint_lacking_keys_is_one_line(tiny_cub_master, tmp_path, capsys):
    run = _train(tiny_cub_master, tmp_path, "lrcn")
    checkpoint = torch.load(run / "best.pt", weights_only=True)
    del checkpoint["state_dict"]
    torch.save(checkpoint, tmp_path / "damaged.pt")
    assert main(["eval", str(tmp_path / "damaged.pt")]) == 1
    assert "damaged gvetool-checkpoint/2 checkpoint (it lacks state_dict)" in _one_line(capsys)
    checkpoint = torch.load(run / "best.pt", weights_only=True)
    checkpoint["state_dict"]["out.weight"] = checkpoint["state_dict"]["out.weight"][:3]
    torch.save(checkpoint, tmp_path / "misfit.pt")
    assert main(["eval", str(tmp_path / "misfit.pt")]) == 1
    assert "the weights in the checkpoint do not fit model 'lrcn'" in _one_line(capsys)


def test_a_utf16_config_file_is_one_line(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('dataset = "synth"\n', encoding="utf-16")
    assert main(["train", "lrcn", "--config", str(config)]) == 1
    assert f"{config} is not UTF-8 text (byte " in _one_line(capsys)


def test_non_utf8_classes_and_a_truncated_feature_store_are_one_line(tiny_cub, tmp_path, capsys):
    args = ["data", "info", "--dataset", "cub", "--data-root", str(tiny_cub)]
    assert main(args) == 0
    (store,) = (tmp_path / "gvetool-home" / "features").glob("*/features.npy")
    store.write_bytes(store.read_bytes()[:200])
    assert main(args) == 1
    line = _one_line(capsys)
    assert f"the feature store {store.parent} is damaged" in line and "rebuilt" in line
    (tiny_cub / "classes.txt").write_bytes("1 001.Caf\xe9_Bird\n".encode("latin-1"))
    assert main(args) == 1
    assert "classes.txt is not UTF-8 text (byte 9" in _one_line(capsys)


def test_runs_lists_state_progress_and_best_score(tiny_cub_master, tmp_path, capsys):
    import signal

    finished = _train(tiny_cub_master, tmp_path, "lrcn")
    interrupted = _train(tiny_cub_master, tmp_path, "sc", "--epochs", "1")
    config = (interrupted / "config.toml").read_text().replace("epochs = 1", "epochs = 3")
    (interrupted / "config.toml").write_text(config)
    running = _train(tiny_cub_master, tmp_path, "sc", "--seed", "4")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (running / ".running").write_text(
            json.dumps({"pid": sleeper.pid, "host": socket.gethostname()})
        )
        capsys.readouterr()
        assert main(["runs", "--out", str(tmp_path), "--json"]) == 0
        rows = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
    assert rows[finished.name]["state"] == "finished"
    assert rows[finished.name]["epochs_done"] == rows[finished.name]["epochs_planned"] == 2
    history = [json.loads(x) for x in (finished / "metrics.jsonl").read_text().splitlines()]
    assert rows[finished.name]["best"] == max(h["val"]["CIDEr"] for h in history)
    assert rows[interrupted.name]["state"] == "interrupted"
    assert (rows[interrupted.name]["epochs_done"], rows[interrupted.name]["epochs_planned"]) == (
        1,
        3,
    )
    assert rows[running.name]["state"] == "running"
    assert rows[running.name]["best_metric"] == "accuracy"
    assert not (finished / ".running").exists()  # a finished run leaves no marker
    assert main(["runs", "--out", str(tmp_path)]) == 0
    assert "interrupted" in capsys.readouterr().out
    assert main(["runs", "--out", str(tmp_path / "nowhere")]) == 1
    assert _one_line(capsys) == (
        f"error: {tmp_path / 'nowhere'} does not exist; pass --out with the folder train, cv "
        "or reproduce wrote to"
    )
    assert main(["runs", "--out", str(finished / "config.toml"), "--json"]) == 1
    assert "config.toml is not a folder" in _one_line(capsys)
    (finished / "metrics.jsonl").write_text('{"epoch": 1, "val": {"CIDEr": 0.5}}\n{"epo\n[3]\n')
    (running / "run.json").write_text("[1, 2]")
    assert main(["runs", "--out", str(tmp_path), "--json"]) == 0
    rows = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert rows[finished.name]["epochs_done"] == 1 and rows[finished.name]["best"] == 0.5
    assert rows[running.name]["model"] == "sc"  # from config.toml


def test_non_finite_weights_are_never_saved(tiny_cub_master, tmp_path, capsys, monkeypatch):
    from gvetool.engine.adam import Adam

    real, steps = Adam.step, []

    def poisoned(self, *args, **kwargs):
        steps.append(1)
        result = real(self, *args, **kwargs)
        if len(steps) == 2:
            with torch.no_grad():
                self.params[0].fill_(float("inf"))
        return result

    monkeypatch.setattr(Adam, "step", poisoned)
    args = [
        "train",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--out",
        str(tmp_path),
        *SMALL,
        "--checkpoint-every",
        "1",
    ]
    assert main(args) == 1
    assert "training stopped: the weights became NaN or infinite at epoch 1, step 2" in (
        _one_line(capsys)
    )
    (run,) = tmp_path.glob("lrcn-cub-*")
    last = load_checkpoint(run / "last.pt")
    assert last["global_step"] == 1
    assert all(bool(torch.isfinite(v).all()) for v in last["state_dict"].values())


def test_a_checkpoint_with_nan_weights_is_refused_by_eval(tiny_cub_master, tmp_path, capsys):
    run = _train(tiny_cub_master, tmp_path, "lrcn")
    checkpoint = torch.load(run / "best.pt", weights_only=True)
    checkpoint["state_dict"]["out.bias"][0] = float("nan")
    torch.save(checkpoint, tmp_path / "nan.pt")
    assert main(["eval", str(tmp_path / "nan.pt")]) == 1
    assert "weights are not finite (out.bias has NaN" in _one_line(capsys)


def test_two_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    from gvetool.engine import rundir

    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "20261126-120000")
    (tmp_path / "lrcn-cub-20261126-120000").mkdir()  # the other process won the first name
    real_mkdir = Path.mkdir

    def racing(self, *args, **kwargs):  # the other process takes -2 just before we do
        if self.name.endswith("-2") and not self.exists():
            real_mkdir(self)
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", racing)
    assert rundir.new_run_dir(tmp_path, "lrcn", "cub").name == "lrcn-cub-20261126-120000-3"


def test_a_run_is_named_by_its_folder_or_by_a_checkpoint_in_it(tmp_path):
    from gvetool.engine.rundir import run_dir_of

    (tmp_path / "best.pt").write_bytes(b"")
    assert run_dir_of(tmp_path) == tmp_path
    assert run_dir_of(tmp_path / "best.pt") == tmp_path


def test_fp64_trains_gve_in_float64_and_its_checkpoint_evaluates(tiny_cub_master, tmp_path):
    sc_run = _train(tiny_cub_master, tmp_path, "sc")
    run = _train(
        tiny_cub_master,
        tmp_path,
        "gve",
        "--precision",
        "fp64",
        "--sc-ckpt",
        str(sc_run / "best.pt"),
    )
    weights = load_checkpoint(run / "best.pt")["state_dict"]
    assert {w.dtype for w in weights.values() if w.is_floating_point()} == {torch.float64}
    assert main(["eval", str(run / "best.pt"), "--split", "test"]) == 0
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"seed": 8},
            "the training data of 'cub' at {root} changed since this run started "
            "(12 images and 36 captions then, 12 and 36 now, or the same counts with "
            "other content); resume on the data it was trained on, or train a new run",
        ),
        (
            {"feature_dim": 24},
            "this run was trained on 16-d features and 'cub' at {root} now has "
            "24-d; resume on the data it was trained on, or train a new run",
        ),
    ],
)
def test_resuming_on_changed_data_is_refused(change, message, tmp_path, capsys):
    import dataclasses

    root = tmp_path / "birds"
    generate(root, TINY)
    run = _train(root, tmp_path, "lrcn", "--epochs", "1")
    shutil.rmtree(root)
    generate(root, dataclasses.replace(TINY, **change))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 1
    assert _one_line(capsys) == "error: " + message.format(root=root)


def test_a_seed_beyond_32_bits_and_a_model_too_large_to_allocate_are_one_line(
    tiny_cub_master, tmp_path, capsys
):
    args = [
        "train",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--out",
        str(tmp_path),
    ]
    assert main([*args, "--seed", str(2**64)]) == 1
    assert _one_line(capsys) == f"error: seed must be between 0 and {2**32 - 1}, got {2**64}"
    assert main([*args, "--hidden-size", "10000000000", "--embedding-size", "8"]) == 1
    line = _one_line(capsys)
    assert line.startswith("error: not enough memory for model 'lrcn' (hidden_size 10000000000")


def test_the_trainer_starts_each_epoch_and_an_older_run_resumes_without_reward_dropout(
    tiny_cub_master, tmp_path, monkeypatch
):
    from gvetool.builtins.models.gve import GVE

    started: list[int] = []
    monkeypatch.setattr(GVE, "start_epoch", lambda self, epoch: started.append(epoch))
    sc = _train(tiny_cub_master, tmp_path, "sc")
    run = _train(
        tiny_cub_master,
        tmp_path,
        "gve",
        "--sc-ckpt",
        str(sc / "best.pt"),
        "--reinforce-weight",
        "0.5",
    )
    assert started == [0, 1]
    options = load_checkpoint(run / "last.pt")["config"]["model_options"]
    assert options == {
        "reinforce_weight": 0.5,
        "baseline": "none",
        "reward_dropout": "original",
        "reinforce_tokens": None,
    }
    # a run of an earlier release: GVE's keys at the top, before reward_dropout existed;
    # it resumes with what it trained with, and evaluates
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    config = checkpoint["config"]
    config.update(config.pop("model_options"))
    del config["reward_dropout"]
    torch.save(checkpoint, run / "last.pt")
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0
    assert started == [0, 1, 2]
    options = load_checkpoint(run / "last.pt")["config"]["model_options"]
    assert options["reward_dropout"] == "never" and options["reinforce_weight"] == 0.5
    assert "reinforce_weight" not in load_checkpoint(run / "last.pt")["config"]
    assert main(["eval", str(run / "last.pt"), "--metrics", "cider"]) == 0


def test_gve_options_from_toml_as_plain_keys_or_a_table_and_a_resume_may_change_only_tokens(
    tiny_cub_master, tmp_path, capsys
):
    sc = _train(tiny_cub_master, tmp_path, "sc")
    config = tmp_path / "gve.toml"
    config.write_text(
        'reinforce_weight = 0.5\nbaseline = "mean"\n[model_options]\nreinforce_tokens = 64\n'
    )
    run = _train(
        tiny_cub_master, tmp_path, "gve", "--sc-ckpt", str(sc / "best.pt"), "--config", str(config)
    )
    saved = (run / "config.toml").read_text()
    assert '[model_options]\nreinforce_weight = 0.5\nbaseline = "mean"' in saved
    assert "reinforce_tokens = 64" in saved
    assert main(["train", "--resume", str(run), "--epochs", "3", "--reinforce-tokens", "32"]) == 0
    assert load_checkpoint(run / "last.pt")["config"]["model_options"]["reinforce_tokens"] == 32
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "4", "--baseline", "none"]) == 1
    assert "--baseline cannot change when resuming" in _one_line(capsys)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--baseline", "foo"], "model 'lrcn' has no option 'baseline'"),
        (["--val-metrics", ","], "val_metrics ',' names no metric"),
    ],
)
def test_an_option_that_cannot_take_effect_is_refused_before_any_folder(
    extra, message, tiny_cub_master, tmp_path, capsys
):
    out = tmp_path / "runs"
    args = ["train", "lrcn", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--out", str(out), *SMALL, *extra]) == 1
    assert message in _one_line(capsys)
    assert not out.exists()


@pytest.mark.skipif(spice_models() is None, reason="SPICE can run here")
def test_a_validation_metric_that_cannot_run_here_is_refused_before_any_folder(
    tiny_cub_master, tmp_path, capsys
):
    out = tmp_path / "runs"
    args = ["train", "lrcn", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--out", str(out), *SMALL, "--val-metrics", "spice"]) == 1
    line = _one_line(capsys)
    assert line.startswith("error: val_metrics: nothing left to pick best.pt (spice skipped: ")
    assert not out.exists()


def test_an_older_runs_gve_keys_still_load_for_lrcn():
    saved = TrainConfig.from_saved({"model": "lrcn", "dataset": "cub", "baseline": "none"})
    assert resolve(None, {**dataclasses.asdict(saved)}, saved=True).model_options == {}


def test_a_checkpoint_keeps_every_cuda_generator_and_a_cuda_resume_restores_them(monkeypatch):
    """Dropout and sampling on a GPU draw from CUDA's generators, which manual_seed resets
    at resume: an exact resume needs their states saved and given back (CUDA faked)."""
    from gvetool.engine.checkpoint import restore_rng_states, rng_states

    states = [torch.tensor([1, 2], dtype=torch.uint8), torch.tensor([3], dtype=torch.uint8)]
    given_back = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: states)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", given_back.append)
    saved = rng_states()
    assert set(saved) == {"torch", "cuda"} and saved["cuda"] == states
    restore_rng_states(saved, "cpu")  # a CPU resume leaves CUDA alone
    assert given_back == []
    restore_rng_states(saved, "cuda")
    assert given_back == [states]
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    assert set(rng_states()) == {"torch"}  # a CPU run never starts CUDA to save it
