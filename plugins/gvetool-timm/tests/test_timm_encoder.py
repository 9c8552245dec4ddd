"""The timm encoder plugin, installed like a user would, on gvetool's synthetic birds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import timm
import torch

from gvetool.plugin_api import SynthOptions
from gvetool.plugin_api import generate_synth as generate
from gvetool.plugin_api import run_cli as main


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("GVETOOL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GVETOOL_QUIET", "1")


@pytest.fixture
def birds(tmp_path):
    root = tmp_path / "birds"
    generate(
        root,
        SynthOptions(
            classes=2, images_per_class=3, captions_per_image=1, image_size=32, feature_dim=4
        ),
    )
    return root


def _features(root, *extra):
    return ["data", "features", "--dataset", "cub", "--data-root", str(root), *extra]


def test_listed_as_an_encoder_family():
    done = subprocess.run(
        [sys.executable, "-m", "gvetool", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    plugin = next(p for p in json.loads(done.stdout) if p["name"] == "timm")
    assert plugin["distribution"] == "gvetool-timm" and plugin["registered"] == {
        "encoder": ["timm"]
    }


def test_features_through_the_feature_store(birds, capsys):
    assert main(_features(birds, "--encoder", "timm:resnet18", "--weights", "none")) == 0
    assert "6 images, 512-d features" in capsys.readouterr().out


def test_weights_from_a_file(birds, tmp_path, capsys):
    path = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", num_classes=10).state_dict(), path)
    assert main(_features(birds, "--encoder", "timm:resnet18", "--weights", str(path))) == 0
    assert "512-d features" in capsys.readouterr().out


def test_pretrained_without_the_hub_is_one_line(birds, capsys, monkeypatch):
    real = timm.create_model

    def offline(name, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("We couldn't connect to 'https://huggingface.co'")
        return real(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", offline)
    assert main(_features(birds, "--encoder", "timm:resnet18")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "Hugging Face hub" in err[0] and "--encoder-weights none|PATH" in err[0]
    )


def test_unknown_model_and_plain_name(birds, capsys):
    assert main(_features(birds, "--encoder", "timm:resnet0", "--weights", "none")) == 1
    assert "timm has no model 'resnet0'" in capsys.readouterr().err
    assert main(_features(birds, "--encoder", "resnet18:x")) == 1
    assert "encoder 'resnet18' has no variants" in capsys.readouterr().err
