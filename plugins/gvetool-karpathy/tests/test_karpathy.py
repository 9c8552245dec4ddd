"""The Karpathy-split dataset plugin, installed like a user would, on a tiny fixture."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gvetool.plugin_api import run_cli as main

WORDS = ["a", "dog", "runs", "on", "grass", "the", "man", "rides", "bike", "red", "blue", "ball"]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("GVETOOL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GVETOOL_QUIET", "1")


@pytest.fixture
def flickr(tmp_path: Path) -> Path:
    """dataset_flickr8k.json in the exact Karpathy format, with generated images."""
    root = tmp_path / "flickr8k"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    splits = ["train"] * 8 + ["restval", "val", "val", "test", "test"]
    images, sentid = [], 0
    for imgid, split in enumerate(splits):
        filename = f"{1000 + imgid}_abc.jpg"
        pixels = rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / filename)
        sentences = []
        for _ in range(3):
            tokens = [WORDS[i] for i in rng.integers(0, len(WORDS), size=5)]
            sentences.append(
                {
                    "tokens": tokens,
                    "raw": " ".join(tokens).capitalize() + ".",
                    "imgid": imgid,
                    "sentid": sentid,
                }
            )
            sentid += 1
        sentids = [s["sentid"] for s in sentences]
        images.append(
            {
                "filename": filename,
                "imgid": imgid,
                "split": split,
                "sentences": sentences,
                "sentids": sentids,
            }
        )
    (root / "dataset_flickr8k.json").write_text(
        json.dumps({"images": images, "dataset": "flickr8k"})
    )
    return root


def test_the_plugin_is_listed_from_its_own_distribution():
    done = subprocess.run(
        [sys.executable, "-m", "gvetool", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    plugin = next(p for p in json.loads(done.stdout) if p["name"] == "karpathy")
    assert plugin["distribution"] == "gvetool-karpathy" and plugin["status"] == "loaded"
    assert plugin["registered"] == {"dataset": ["flickr8k", "flickr30k", "coco-karpathy"]}


def test_info_counts_restval_as_train(flickr, capsys):
    assert (
        main(["data", "info", "--dataset", "flickr8k", "--data-root", str(flickr), "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert {k: v["images"] for k, v in report["splits"].items()} == {
        "train": 9,
        "val": 2,
        "test": 2,
    }
    assert report["classes"] is None and report["feature_dim"] is None


def test_lrcn_trains_and_evaluates_on_images_through_an_encoder(flickr, tmp_path, capsys):
    args = [
        "train",
        "lrcn",
        "--dataset",
        "flickr8k",
        "--data-root",
        str(flickr),
        "--encoder",
        "resnet18",
        "--encoder-weights",
        "none",
        "--out",
        str(tmp_path / "runs"),
        "--epochs",
        "2",
        "--hidden-size",
        "8",
        "--embedding-size",
        "8",
        "--batch-size",
        "8",
        "--val-metrics",
        "bleu,cider",
    ]
    assert main(args) == 0  # random encoder weights: no ImageNet download offline
    (run,) = (tmp_path / "runs").glob("lrcn-flickr8k-*")
    if shutil.which("java") is None:
        pytest.skip("evaluation's PTB tokenizer needs Java")
    assert main(["eval", str(run), "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())["test"]
    assert "CIDEr" in metrics and "class_rank" not in metrics


def test_gve_is_refused_for_lack_of_classes(flickr, capsys):
    assert main(["train", "gve", "--dataset", "flickr8k", "--data-root", str(flickr)]) == 1
    assert (
        "model 'gve' needs class labels and dataset 'flickr8k' has none" in capsys.readouterr().err
    )


def test_missing_split_file_is_one_line(tmp_path, capsys):
    assert main(["data", "info", "--dataset", "flickr30k", "--data-root", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "dataset_flickr30k.json" in err[0]
