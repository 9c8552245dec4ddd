"""The embedded synthetic dataset: deterministic, in the real layouts, never half-written."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from gvetool.builtins.datasets import coco, cub
from gvetool.builtins.datasets.synth import SynthOptions, generate, open_synth
from gvetool.builtins.datasets.synth_birds import COLOURS
from gvetool.data.tokenize import tokenize
from gvetool.utils.errors import GvetoolError
from gvetool.utils.safe_pickle import load_pickle

from .conftest import TINY

CUB_IMAGE_ID = re.compile(r"^\d{3}\.[A-Za-z_-]+/[A-Za-z_-]+_\d{4}_\d+\.jpg$")


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path, tiny_cub_master):
    generate(tmp_path / "again", TINY)
    assert _digest(tmp_path / "again") == _digest(tiny_cub_master)
    generate(tmp_path / "other", SynthOptions(**{**TINY.__dict__, "seed": 8}))
    assert _digest(tmp_path / "other") != _digest(tiny_cub_master)


def test_cub_layout_is_the_release_layout(tiny_cub_master):
    root = tiny_cub_master
    for name in [*cub.required_files(), cub.RAW_TSV]:
        assert (root / name).is_file(), name
    classes = (root / "classes.txt").read_text().splitlines()
    assert [line.split()[0] for line in classes] == ["1", "2", "3", "4"]
    assert all(re.match(r"^\d+ \d{3}\.\w+$", line) for line in classes)
    labels = load_pickle(root / cub.LABELS_FILE)
    features = load_pickle(root / cub.FEATURES_FILE)
    assert set(labels) == set(features) and len(labels) == 20
    assert set(labels.values()) == {1, 2, 3, 4}
    assert all(CUB_IMAGE_ID.match(image_id) for image_id in labels)
    assert all(v.shape == (16,) and v.dtype == np.float32 for v in features.values())
    for image_id in labels:
        assert (root / "images" / image_id).is_file()
    data = json.loads((root / "descriptions_bird.train.fg.json").read_text())
    assert {"images", "annotations", "type"} <= set(data)
    assert {"image_id", "id", "caption"} <= set(data["annotations"][0])


def test_every_class_is_in_every_split_and_images_are_per_split_disjoint(tiny_cub_master):
    corpus = open_synth(tiny_cub_master)
    seen = set()
    for split in corpus.splits.values():
        assert sorted(set(split.class_ids.tolist())) == [0, 1, 2, 3]
        assert not seen & set(split.image_ids)
        seen |= set(split.image_ids)
        assert all(len(c) == 3 for c in split.captions)
    assert len(seen) == 20


def test_descriptions_mention_the_images_own_attributes(tiny_cub_master):
    corpus = open_synth(tiny_cub_master)
    words = [set(tokenize(c)) for caps in corpus.split("train").captions for c in caps]
    colour_mentions = [w & set(COLOURS) for w in words]
    assert all(
        colour_mentions[i] or w & {"short", "long", "hooked", "cone-shaped"}
        for i, w in enumerate(words)
    )
    # The classes differ in what is said about them: the class-conditional word
    # distributions are not all the same.
    by_class: dict[int, set[str]] = {}
    train = corpus.split("train")
    for cls, caps in zip(train.class_ids.tolist(), train.captions, strict=True):
        for caption in caps:
            by_class.setdefault(cls, set()).update(tokenize(caption))
    assert len({frozenset(v & set(COLOURS)) for v in by_class.values()}) > 1


def test_coco_layout_reads_with_the_coco_loader(tmp_path):
    root = tmp_path / "coco"
    generate(root, SynthOptions(**{**TINY.__dict__, "layout": "coco"}))
    for split in ("train", "val"):
        assert (root / coco.annotation_file(split)).is_file()
    corpus = open_synth(root)
    assert corpus.class_names is None and corpus.features is None
    assert corpus.split("test").image_ids == corpus.split("val").image_ids
    train = corpus.split("train")
    assert all(f.startswith("train2014/COCO_train2014_") for f in train.image_files)
    assert all((root / f).is_file() for f in train.image_files)
    assert corpus.notes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"images_per_class": 2}, "--images-per-class must be >= 3"),
        ({"classes": 1}, "--classes must be >= 2"),
        ({"layout": "voc"}, "--layout must be one of cub, coco"),
        ({"image_size": 8}, "--image-size"),
    ],
)
def test_bad_options_are_refused(tmp_path, change, message):
    with pytest.raises(GvetoolError, match=message):
        generate(tmp_path / "x", SynthOptions(**{**TINY.__dict__, **change}))
    assert not (tmp_path / "x").exists()


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(GvetoolError, match="already exists and is not empty; pass --force"):
        generate(out, TINY)
    assert (out / "keep.txt").read_text() == "mine"
    generate(out, TINY, force=True)
    assert not (out / "keep.txt").exists() and (out / "classes.txt").is_file()


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    import gvetool.builtins.datasets.synth as synth

    calls = {"n": 0}
    real = synth.render

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(synth, "render", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "data", TINY)
    assert list(tmp_path.iterdir()) == []


def test_synth_dataset_is_generated_on_first_use(tmp_path):
    corpus = open_synth(None)
    assert corpus.root == tmp_path / "gvetool-home" / "data" / "synth"
    assert len(corpus.class_names) == 20
    assert sum(len(s.image_ids) for s in corpus.splits.values()) == 600


def test_a_mistyped_data_root_is_refused_not_filled_with_a_new_dataset(tmp_path, capsys):
    from gvetool.cli import main

    typo = tmp_path / "nowhere"
    args = ["train", "lrcn", "--dataset", "synth", "--data-root", str(typo), "--out", str(tmp_path)]
    assert main(args) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: no synth dataset at {typo}; make one there with: gvetool data synth {typo} "
        "(or leave out --data-root for the default one, made on first use)"
    )
    assert not typo.exists()


def test_the_default_synth_root_is_still_made_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setenv("GVETOOL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(
        "gvetool.builtins.datasets.synth.SynthOptions",
        lambda: SynthOptions(classes=2, images_per_class=3, captions_per_image=1, feature_dim=4),
    )
    corpus = open_synth(None)
    assert corpus.name == "synth" and (tmp_path / "home" / "data" / "synth").is_dir()
