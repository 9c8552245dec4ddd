"""Cross-validation: folds over images, per-fold runs, resume, warnings, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gvetool.builtins.datasets import cub
from gvetool.cli import main
from gvetool.data.folds import fold_indices, fold_view
from gvetool.utils.errors import GvetoolError

from .test_train import _one_line

TINY_RUN = [
    "--hidden-size",
    "8",
    "--embedding-size",
    "8",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--val-metrics",
    "bleu,cider",
]


def test_folds_partition_images_and_keep_captions_together(tiny_cub_master):
    corpus = cub.open_cub(tiny_cub_master)
    train = corpus.split("train")
    folds = fold_indices(train, 3, seed=0, stratified=False)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(train.image_ids)))
    for k in range(3):
        view = fold_view(corpus, k, 3, 0, False)
        assert not set(view.split("train").image_ids) & set(view.split("val").image_ids)
        assert len(view.split("train").image_ids) + len(view.split("val").image_ids) == 12
        for split in ("train", "val"):
            for image_id, captions in zip(
                view.split(split).image_ids, view.split(split).captions, strict=True
            ):
                assert captions == train.captions[train.image_ids.index(image_id)]
        assert view.split("test").image_ids == corpus.split("test").image_ids


def test_stratified_folds_keep_every_class_in_every_fold(tiny_cub_master):
    train = cub.open_cub(tiny_cub_master).split("train")  # 3 images per class
    for fold in fold_indices(train, 3, seed=1, stratified=True):
        assert sorted(train.class_ids[fold].tolist()) == [0, 1, 2, 3]


def test_too_many_folds_for_stratified_names_the_class(tiny_cub_master):
    train = cub.open_cub(tiny_cub_master).split("train")
    with pytest.raises(
        GvetoolError, match=r"--folds 4 is more than class id 0 has training images \(3\)"
    ):
        fold_indices(train, 4, 0, stratified=True)
    names = cub.open_cub(tiny_cub_master).class_names
    with pytest.raises(GvetoolError, match=rf"more than {names[0]} has training images \(3\)"):
        fold_indices(train, 4, 0, stratified=True, class_names=names)
    with pytest.raises(GvetoolError, match="--folds must be >= 2"):
        fold_indices(train, 1, 0, stratified=False)


def test_cv_runs_each_fold_writes_cv_json_and_resumes(tiny_cub_master, tmp_path, capsys):
    args = [
        "cv",
        "--model",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--folds",
        "2",
        "--out",
        str(tmp_path),
        *TINY_RUN,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2-fold cross-validation" in out and "mean ± std" in out
    summary = json.loads((tmp_path / "cv-lrcn-cub-2fold-seed0" / "cv.json").read_text())
    assert [f["fold"] for f in summary["per_fold"]] == [1, 2]
    cider = [f["val"]["CIDEr"] for f in summary["per_fold"]]
    assert summary["mean"]["CIDEr"] == pytest.approx(np.mean(cider))
    assert summary["std"]["CIDEr"] == pytest.approx(np.std(cider, ddof=1))
    for key in ("judge_top1", "class_rank", "class_similarity"):  # on each fold's val images
        assert summary["mean"][key] == pytest.approx(
            np.mean([f["val"][key] for f in summary["per_fold"]])
        )
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("fold1: already trained") == 1 and err.count("fold2: already trained") == 1


def test_gve_folds_train_their_own_sentence_classifier(tiny_cub_master, tmp_path, capsys):
    args = [
        "cv",
        "--model",
        "gve",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--folds",
        "2",
        "--out",
        str(tmp_path),
        *TINY_RUN,
    ]
    assert main(args) == 0
    for fold in ("fold1", "fold2"):
        fold_dir = tmp_path / "cv-gve-cub-2fold-seed0" / fold
        (sc_run,) = fold_dir.glob("sc-cub-*")
        (gve_run,) = fold_dir.glob("gve-cub-*")
        config = (gve_run / "config.toml").read_text()
        assert f'sc_ckpt = "{sc_run / "best.pt"}"' in config
    summary = json.loads((tmp_path / "cv-gve-cub-2fold-seed0" / "cv.json").read_text())
    assert {"judge_top1", "explanation_top1"} <= set(summary["mean"])


def test_same_model_and_a_fixed_classifier_warn(tiny_cub_master, tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "sc",
                "--dataset",
                "cub",
                "--data-root",
                str(tiny_cub_master),
                "--out",
                str(tmp_path / "sc"),
                *TINY_RUN,
            ]
        )
        == 0
    )
    (sc_run,) = (tmp_path / "sc").glob("sc-cub-*")
    args = [
        "cv",
        "--model",
        "gve",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--folds",
        "2",
        "--out",
        str(tmp_path),
        "--same-model",
        "--sc-ckpt",
        str(sc_run / "best.pt"),
        *TINY_RUN,
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "--same-model carries weights from fold to fold" in err
    assert "was trained on all training images" in err


def test_cv_with_one_fold_is_refused(tiny_cub_master, capsys):
    args = ["cv", "--model", "lrcn", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--folds", "1"]) == 1
    assert "--folds must be >= 2, got 1" in _one_line(capsys)


def test_a_fold_whose_training_lacks_classes_is_cross_validated(tmp_path, capsys):
    """Unstratified folds of one training image per class: each fold trains without half
    the classes, and the judge and every per-class measure must still work."""
    from gvetool.builtins.datasets.synth import SynthOptions, generate

    root = tmp_path / "sparse"
    generate(
        root,
        SynthOptions(
            classes=4,
            images_per_class=3,
            captions_per_image=3,
            image_size=32,
            feature_dim=16,
            seed=3,
        ),
    )
    train = cub.open_cub(root).split("train")
    for val in fold_indices(train, 2, seed=0, stratified=False):
        assert len(set(np.delete(train.class_ids, val).tolist())) < 4  # a class is absent
    args = [
        "cv",
        "--model",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(root),
        "--folds",
        "2",
        "--out",
        str(tmp_path / "cv"),
        *TINY_RUN,
    ]
    assert main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "the judge never predicts them" in err
    summary = json.loads((tmp_path / "cv" / "cv-lrcn-cub-2fold-seed0" / "cv.json").read_text())
    assert all(0.0 <= f["val"]["judge_top1"] <= 1.0 for f in summary["per_fold"])


def test_one_finished_value_has_no_spread_not_a_zero_one(capsys):
    from gvetool.utils.console import mean_and_spread
    from gvetool.workflows.cv import _mean_and_std

    summary = _mean_and_std({"CIDEr": np.array([0.5]), "BLEU-4": np.array([0.2, 0.4])})
    assert summary["std"]["CIDEr"] is None
    assert summary["std"]["BLEU-4"] == pytest.approx(0.1414, abs=1e-3)
    assert mean_and_spread(0.5, None) == "0.500 (n = 1)"
    assert mean_and_spread(0.3, 0.1414) == "0.300 ± 0.141"
