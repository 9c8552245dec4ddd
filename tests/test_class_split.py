"""Class splits: reproducible partitions, views that share files and features, bad input."""

from __future__ import annotations

import json

import pytest

from gvetool.builtins.datasets import cub
from gvetool.cli import main
from gvetool.data.class_split import apply_class_split, make_class_split
from gvetool.data.features import open_precomputed
from gvetool.data.open import open_dataset
from gvetool.utils.errors import GvetoolError

from .test_train import _one_line


def test_split_is_disjoint_complete_and_reproducible():
    names = [f"{i:03d}.C{i}" for i in range(1, 11)]
    split = make_class_split(names, 0.3, seed=4)
    first, second = split["parts"]
    assert len(first) == 3 and len(second) == 7
    assert sorted(first + second) == names and not set(first) & set(second)
    assert make_class_split(names, 0.3, seed=4) == split
    assert make_class_split(names, 0.3, seed=5) != split


@pytest.mark.parametrize("ratio", [0, 1, -0.5, 1.5])
def test_ratio_outside_the_open_interval_is_refused(ratio, tiny_cub_master, capsys):
    args = ["split", "classes", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--ratio", str(ratio)]) == 1
    assert "--ratio must be strictly between 0 and 1" in _one_line(capsys)


def test_cli_split_then_a_view_renumbers_classes_and_shares_the_store(
    tiny_cub_master, tmp_path, capsys
):
    out = tmp_path / "split.json"
    args = ["split", "classes", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--ratio", "0.5", "--seed", "0", "--out", str(out)]) == 0
    assert f"2 + 2 classes of 'cub' -> {out}" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["ratio"] == 0.5 and saved["seed"] == 0
    full = open_dataset("cub", tiny_cub_master)
    for part in (1, 2):
        view = open_dataset("cub", tiny_cub_master, f"{out}:{part}")
        assert view.class_names == [c for c in full.class_names if c in saved["parts"][part - 1]]
        for name, split in view.splits.items():
            assert sorted(set(split.class_ids.tolist())) == [0, 1]
            original = dict(
                zip(full.split(name).image_ids, full.split(name).class_ids.tolist(), strict=True)
            )
            for image_id, cls in zip(split.image_ids, split.class_ids.tolist(), strict=True):
                assert view.class_names[cls] == full.class_names[original[image_id]]
        assert open_precomputed(view).directory == open_precomputed(full).directory


def test_cub1_and_cub2_are_the_default_split(tiny_cub_master):
    one, two = cub.open_cub1(tiny_cub_master), cub.open_cub2(tiny_cub_master)
    assert one.name == "cub1" and two.name == "cub2"
    assert sorted(one.class_names + two.class_names) == cub.open_cub(tiny_cub_master).class_names
    assert not set(one.split("train").image_ids) & set(two.split("train").image_ids)


def test_split_file_naming_unknown_classes_is_refused(tiny_cub_master, tmp_path):
    split = make_class_split(["001.Not_a_bird", "002.Nor_this"], 0.5, 0)
    (tmp_path / "s.json").write_text(json.dumps(split))
    corpus = cub.open_cub(tiny_cub_master)
    with pytest.raises(GvetoolError, match="names 1 classes that 'cub' does not have"):
        apply_class_split(corpus, f"{tmp_path / 's.json'}:1")


@pytest.mark.parametrize("spec", ["split.json", "split.json:3", ":1"])
def test_bad_class_split_spec(spec, tiny_cub_master):
    with pytest.raises(GvetoolError, match="must look like FILE:1 or FILE:2"):
        apply_class_split(cub.open_cub(tiny_cub_master), spec)


def test_training_on_a_part(tiny_cub_master, tmp_path, capsys):
    out = tmp_path / "split.json"
    assert (
        main(
            [
                "split",
                "classes",
                "--dataset",
                "cub",
                "--data-root",
                str(tiny_cub_master),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    args = [
        "train",
        "sc",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--class-split",
        f"{out}:2",
    ]
    small = [
        "--hidden-size",
        "8",
        "--embedding-size",
        "8",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "runs"),
    ]
    assert main([*args, *small]) == 0
    assert "2 classes" in capsys.readouterr().err
