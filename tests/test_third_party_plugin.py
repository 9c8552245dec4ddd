"""A real third-party package, pip-installed as a user would, is found with no core change."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TOY_SOURCE = Path(__file__).parent / "toy_plugin"


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
        capture_output=True,
    )


def _gvetool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gvetool", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def toy_installed(tmp_path_factory: pytest.TempPathFactory):
    # Built from a copy so the source tree stays free of build/ and egg-info droppings.
    source = tmp_path_factory.mktemp("toy") / "toy_plugin"
    shutil.copytree(TOY_SOURCE, source)
    _pip("install", "--no-deps", "--no-build-isolation", str(source))
    yield
    _pip("uninstall", "-y", "gvetool-toy")


def test_pip_installed_plugin_is_listed_with_what_it_provides(toy_installed):
    done = _gvetool("plugins", "--json")
    assert done.returncode == 0, done.stderr
    toy = next(info for info in json.loads(done.stdout) if info["name"] == "toy")
    assert toy["distribution"] == "gvetool-toy"
    assert toy["version"] == "0.4.0"
    assert toy["status"] == "loaded"
    assert toy["registered"] == {"dataset": ["toy-birds"], "model": ["toy-unigram", "toy-broken"]}
    assert toy["commands"] == ["toy-hello"]


def test_pip_installed_plugin_command_runs(toy_installed):
    done = _gvetool("toy-hello", "--name", "wren")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello wren from gvetool-toy"


def test_pip_installed_plugin_can_be_disabled(toy_installed, monkeypatch):
    monkeypatch.setenv("GVETOOL_DISABLE_PLUGINS", "toy")
    done = _gvetool("plugins", "--json")
    toy = next(info for info in json.loads(done.stdout) if info["name"] == "toy")
    assert toy["status"] == "disabled"
    assert _gvetool("toy-hello").returncode == 2


def test_a_third_party_model_trains_and_is_evaluated_through_the_same_commands(
    toy_installed, tiny_cub, tmp_path
):
    out = tmp_path / "runs"
    done = _gvetool(
        "train",
        "toy-unigram",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--val-metrics",
        "bleu",
    )
    assert done.returncode == 0, done.stderr
    run = next(out.glob("toy-unigram-cub-*"))
    assert "(best.pt, last.pt, metrics.jsonl)" in done.stdout
    evaluated = _gvetool("eval", str(run), "--beam", "2")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["test"]["BLEU-1"] <= 1


def test_a_model_missing_a_contract_member_is_refused_with_one_line(
    toy_installed, tiny_cub, tmp_path
):
    done = _gvetool(
        "train",
        "toy-broken",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub),
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: model 'toy-broken' does not provide beam_search, which a CaptioningModel "
        "must (see docs/plugins.md, 'The model contract')"
    )


def test_a_models_own_options_are_checked_saved_inherited_and_listed(
    toy_installed, tiny_cub, tmp_path
):
    out = tmp_path / "runs"
    args = [
        "train",
        "toy-unigram",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub),
        "--out",
        str(out),
        "--batch-size",
        "8",
        "--val-metrics",
        "bleu",
    ]
    wrong = _gvetool(*args, "--model-option", "bias=2")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines()[-1] == (
        "error: model 'toy-unigram' option bias must be bool, got 2"
    )
    unknown = _gvetool(*args, "--model-option", "bais=false")
    assert unknown.stderr.strip().splitlines()[-1] == (
        "error: model 'toy-unigram' has no option 'bais' (its options: bias); did you mean 'bias'?"
    )
    done = _gvetool(*args, "--epochs", "1", "--model-option", "bias=false")
    assert done.returncode == 0, done.stderr
    run = next(out.glob("toy-unigram-cub-*"))
    assert "[model_options]\nbias = false" in (run / "config.toml").read_text()
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert checkpoint["config"]["model_options"] == {"bias": False}
    assert "out.bias" not in checkpoint["state_dict"]
    again = _gvetool("train", "--resume", str(run), "--model-option", "bias=true")
    assert (
        again.stderr.strip()
        .splitlines()[-1]
        .startswith("error: --model-option cannot change when resuming")
    )
    resumed = _gvetool("train", "--resume", str(run), "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(run / "last.pt", weights_only=True)["config"]["model_options"] == {
        "bias": False
    }
    listed = _gvetool("plugins")
    assert "toy-unigram: --model-option bias=... [true] give the output layer a bias" in (
        listed.stdout
    )
