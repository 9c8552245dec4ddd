"""The Transformer plugin, installed like a user would, through gvetool's own commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gvetool.plugin_api import (
    CaptionBatch,
    SynthOptions,
    TrainConfig,
    get_plugins,
    load_checkpoint,
    reset_plugins,
)
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
    "bleu",
]
OPTIONS = ["--model-option", "layers=1", "--model-option", "heads=2"]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("GVETOOL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GVETOOL_QUIET", "1")
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
            seed=3,
        ),
    )
    return root


def _train(birds: Path, out: Path, model: str, *extra: str) -> Path:
    args = ["train", model, "--dataset", "cub", "--data-root", str(birds), "--out", str(out)]
    options = OPTIONS if model.startswith("transformer") else []
    assert main([*args, *TINY, *options, *extra]) == 0
    return next(out.glob(f"{model}-cub-*"))


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last.pt")["state_dict"]


def test_listed_with_its_models_and_options():
    done = subprocess.run(
        [sys.executable, "-m", "gvetool", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    plugin = next(p for p in json.loads(done.stdout) if p["name"] == "transformer")
    assert plugin["distribution"] == "gvetool-transformer"
    assert plugin["registered"] == {"model": ["transformer", "transformer-gve"]}
    listed = subprocess.run(
        [sys.executable, "-m", "gvetool", "plugins"], capture_output=True, text=True, check=True
    ).stdout
    assert "transformer: --model-option heads=... [4] attention heads" in listed


def test_meets_the_contract_and_decodes_in_its_form():
    spec = get_plugins().models.get("transformer-gve")
    config = TrainConfig(
        model="transformer-gve",
        dataset="cub",
        hidden_size=8,
        model_options={"layers": 1, "heads": 2, "feedforward": 0},
    )
    model = spec.build(config, 11, 5, 3).eval()
    features, classes = torch.rand(4, 5), torch.tensor([0, 1, 2, 0])
    decoded = [
        model.generate(features, classes, max_len=7),
        model.generate(features, classes, 7, greedy=False),
        model.beam_search(features, classes, beam_size=2, max_len=7),
    ]
    for tokens, lengths in decoded:
        assert tokens.shape[0] == 4 and int(lengths.max()) == tokens.shape[1] <= 7
        positions = torch.arange(tokens.shape[1])[None, :]
        assert tokens[positions >= lengths[:, None]].eq(0).all()


def test_teacher_forcing_is_causal_and_matches_step_by_step_decoding():
    spec = get_plugins().models.get("transformer")
    config = TrainConfig(
        model="transformer",
        dataset="cub",
        hidden_size=8,
        model_options={"layers": 2, "heads": 2, "feedforward": 16},
    )
    torch.manual_seed(0)
    model = spec.build(config, 11, 5, 0).eval()
    features, classes = torch.rand(3, 5), torch.zeros(3, dtype=torch.long)
    tokens, _ = model.generate(features, classes, max_len=6)
    tokens = tokens.clamp(min=4)  # a full-width sentence for every row
    teacher = model._token_log_probs(features, classes, tokens)
    changed = tokens.clone()
    changed[:, -1] = 4 if int(changed[0, -1]) != 4 else 5  # the last word cannot change the rest
    torch.testing.assert_close(
        model._token_log_probs(features, classes, changed)[:, :-1], teacher[:, :-1]
    )
    state = model._start(model._memory(features, classes))
    word = torch.full((3,), 1)
    for t in range(tokens.shape[1]):
        state, logits = model._step(state, word)
        expected = torch.log_softmax(logits, dim=1).gather(1, tokens[:, t : t + 1]).squeeze(1)
        torch.testing.assert_close(teacher[:, t], expected, atol=1e-5, rtol=1e-5)
        word = tokens[:, t]


def test_loss_is_the_token_mean_and_gve_style_adds_the_reward(birds, tmp_path):
    spec = get_plugins().models.get("transformer-gve")
    config = TrainConfig(
        model="transformer-gve",
        dataset="cub",
        hidden_size=8,
        dropout=0.0,
        model_options={"layers": 1, "heads": 2, "feedforward": 0},
    )
    model = spec.build(config, 11, 5, 3)
    tokens = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0]])
    batch = CaptionBatch(
        torch.rand(2, 5), tokens, torch.tensor([3, 2]), torch.tensor([0, 2]), torch.arange(2)
    )
    loss, logs = model.loss(batch)
    token_lp = model._token_log_probs(batch.features, batch.class_ids, tokens)
    torch.testing.assert_close(loss, -(token_lp[0, :3].sum() + token_lp[1, :2].sum()) / 5)
    assert set(logs) == {"loss"}
    classifier = (
        get_plugins()
        .models.get("sc")
        .build(TrainConfig(model="sc", dataset="cub", hidden_size=8, embedding_size=8), 11, 5, 3)
    )
    model.attach_sentence_classifier(classifier)
    loss, logs = model.loss(batch)
    assert set(logs) == {"loss", "ce", "reward"} and 0 < logs["reward"] < 1
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())  # DDP: every parameter used


def test_trains_resumes_exactly_evaluates_with_beams_and_explains(birds, tmp_path, capsys):
    straight = _train(birds, tmp_path / "straight", "transformer", "--epochs", "2")
    stopped = _train(birds, tmp_path / "stopped", "transformer", "--epochs", "1")
    assert main(["train", "--resume", str(stopped), "--epochs", "2"]) == 0
    resumed, expected = _weights(stopped), _weights(straight)
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], msg=key)
    assert load_checkpoint(stopped / "last.pt")["config"]["model_options"] == {
        "layers": 1,
        "heads": 2,
        "feedforward": 0,
    }
    assert main(["eval", str(straight), "--beam", "2"]) == 0
    metrics = json.loads((straight / "metrics.json").read_text())
    assert 0 <= metrics["test"]["BLEU-4"] <= 1
    image = json.loads((straight / "predictions" / "test.json").read_text())[0]["image_id"]
    capsys.readouterr()
    assert main(["explain", str(straight), image, "--beam", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["image_id"] == image


def test_gve_style_training_explains_counterfactuals_and_cross_validates(birds, tmp_path, capsys):
    sc = _train(birds, tmp_path, "sc", "--epochs", "1")
    run = _train(
        birds, tmp_path, "transformer-gve", "--epochs", "1", "--sc-ckpt", str(sc / "best.pt")
    )
    history = load_checkpoint(run / "last.pt")["metrics"]
    assert "reward" in history[0]["train"]
    names = load_checkpoint(run / "last.pt")["class_names"]
    capsys.readouterr()
    image = (birds / "test.txt").read_text().split()[0]  # an image of the first class
    assert main(["explain", str(run), image, "--class", names[1], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["class"] == names[1]
    cv_args = [
        "cv",
        "--model",
        "transformer",
        "--dataset",
        "cub",
        "--data-root",
        str(birds),
        "--folds",
        "2",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "cv"),
        *TINY[:6],
        "--val-metrics",
        "bleu",
        *OPTIONS,
    ]
    assert main(cv_args) == 0
    summary = json.loads(next((tmp_path / "cv").glob("cv-*/cv.json")).read_text())
    assert summary["folds"] == 2 and len(summary["per_fold"]) == 2


def test_transfer_keeps_the_architecture_and_its_options(birds, tmp_path):
    source = _train(birds, tmp_path / "source", "transformer", "--epochs", "1")
    args = [
        "transfer",
        str(source),
        "--dataset",
        "cub",
        "--data-root",
        str(birds),
        "--epochs",
        "1",
        "--freeze",
        "decoder",
        "--out",
        str(tmp_path / "target"),
    ]
    assert main(args) == 0  # a group the Transformer names itself
    target = next((tmp_path / "target").glob("transformer-cub-*"))
    saved = load_checkpoint(target / "last.pt")
    assert saved["config"]["model_options"] == {"layers": 1, "heads": 2, "feedforward": 0}
    before = load_checkpoint(source / "best.pt")["state_dict"]
    after = saved["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("decoder."))
    assert not torch.equal(before["out.weight"], after["out.weight"])  # trained on


def test_two_gloo_processes_equal_one_process(birds, tmp_path):
    # float64, as the core's DDP tests: float32's reduction-order noise, amplified by Adam,
    # exceeded a fixed tolerance on an Intel CPU.
    extra = ["--epochs", "1", "--dropout", "0", "--precision", "fp64"]
    out = tmp_path / "ddp"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "--log-dir",
            str(tmp_path / "torchrun-logs"),  # else it leaves a folder in /tmp
            "-m",
            "gvetool",
            "train",
            "transformer",
            "--dataset",
            "cub",
            "--data-root",
            str(birds),
            "--out",
            str(out),
            *TINY,
            *OPTIONS,
            *extra,
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run saved in") == 1
    single = _train(birds, tmp_path / "one", "transformer", *extra)
    parallel, expected = _weights(next(out.glob("transformer-cub-*"))), _weights(single)
    for key in expected:
        assert parallel[key].dtype == expected[key].dtype == torch.float64, key
        got, want = _with_gradient(key, parallel[key]), _with_gradient(key, expected[key])
        torch.testing.assert_close(got, want, atol=1e-9, rtol=1e-7, msg=key)


def _with_gradient(key: str, weight: torch.Tensor) -> torch.Tensor:
    """The rows of ``weight`` whose gradient is not exactly zero by construction.

    Adam turns the rounding noise of an exactly-zero gradient into steps of size lr, so
    those rows differ between any two runs that add in another order: the self-attention
    key bias (softmax ignores a constant added to every score) and, with the image as the
    only memory token, the cross-attention's query and key projections (a softmax over one
    key is 1 whatever they are).
    """
    width = weight.shape[0] // 3
    if "multihead_attn.in_proj" in key:
        return weight[2 * width :]
    if key.endswith("self_attn.in_proj_bias"):
        return torch.cat([weight[:width], weight[2 * width :]])
    return weight


def test_heads_must_divide_the_width(birds, tmp_path, capsys):
    args = [
        "train",
        "transformer",
        "--dataset",
        "cub",
        "--data-root",
        str(birds),
        "--out",
        str(tmp_path),
        "--hidden-size",
        "10",
        "--model-option",
        "heads=4",
    ]
    assert main(args) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: transformer: hidden_size 10 must be divisible by heads 4 (--heads N)"
    )
