"""The CUB loader on a synth-written CUB layout, and every bad input it must explain."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from gvetool.builtins.datasets import cub
from gvetool.builtins.datasets.captions_json import read_captions
from gvetool.data.features import open_precomputed
from gvetool.utils.errors import GvetoolError
from gvetool.utils.safe_pickle import load_pickle


def test_loads_splits_classes_labels_and_features(tiny_cub):
    corpus = cub.open_cub(tiny_cub)
    assert corpus.name == "cub" and len(corpus.class_names) == 4
    labels = load_pickle(tiny_cub / cub.LABELS_FILE)
    for split in corpus.splits.values():
        assert [labels[i] - 1 for i in split.image_ids] == split.class_ids.tolist()
        assert all(corpus.image_path(split, i).is_file() for i in range(len(split.image_ids)))
    store = open_precomputed(corpus, tiny_cub / "cache")
    features = load_pickle(tiny_cub / cub.FEATURES_FILE)
    rows = store.rows(corpus.split("test").image_ids)
    expected = np.stack([features[i] for i in corpus.split("test").image_ids])
    np.testing.assert_array_equal(store.array[rows], expected)


def test_missing_files_are_all_named_with_the_expected_layout(tiny_cub):
    (tiny_cub / "classes.txt").unlink()
    (tiny_cub / "descriptions_bird.val.fg.json").unlink()
    with pytest.raises(GvetoolError) as excinfo:
        cub.open_cub(tiny_cub)
    message = str(excinfo.value)
    assert "missing descriptions_bird.val.fg.json, classes.txt" in message
    assert "expected descriptions_bird.{train,val,test}.fg.json" in message
    assert "\n" not in message


def test_missing_root_says_how_to_get_it(tmp_path):
    with pytest.raises(GvetoolError, match="does not exist; get it with `gvetool data download"):
        cub.open_cub(tmp_path / "nowhere")


def test_truncated_json_names_file_and_position(tiny_cub):
    path = tiny_cub / "descriptions_bird.test.fg.json"
    path.write_text(path.read_text()[:100])
    with pytest.raises(
        GvetoolError, match=r"descriptions_bird.test.fg.json is not valid JSON \(line"
    ):
        cub.open_cub(tiny_cub)


def test_json_that_is_not_coco_captions_is_refused(tiny_cub):
    (tiny_cub / "descriptions_bird.train.fg.json").write_text(json.dumps({"images": []}))
    with pytest.raises(GvetoolError, match="not in COCO captions format"):
        cub.open_cub(tiny_cub)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(images=3), r"'images' must be a list, found int"),
        (
            lambda d: d["annotations"][1].update(caption=None),
            r"annotations\[1\]'s 'caption' must be text, found null",
        ),
        (
            lambda d: d["annotations"][2].update(caption=["a", "red", "bird"]),
            r"annotations\[2\]'s 'caption' must be text, found list",
        ),
        (
            lambda d: d["annotations"][0].update(image_id=[1]),
            r"annotations\[0\]'s 'image_id' must be a string or an integer",
        ),
        (lambda d: d["images"][0].update(id=None), r"images\[0\] has no 'id'"),
    ],
)
def test_damaged_caption_fields_are_refused_naming_the_entry(tiny_cub, change, message):
    path = tiny_cub / "descriptions_bird.train.fg.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(GvetoolError, match=message):
        cub.open_cub(tiny_cub)


def test_a_label_of_a_hundred_thousand_digits_is_one_bounded_line(tiny_cub):
    huge = 10**100_000 - 1  # a hundred thousand nines
    _rewrite_pickle(tiny_cub / cub.LABELS_FILE, lambda d: d.update({next(iter(d)): huge}))
    with pytest.raises(GvetoolError, match=r"1 label ids outside .*an integer of \d+ bits") as e:
        cub.open_cub(tiny_cub)
    assert len(str(e.value)) < 500


def _rewrite_pickle(path, change):
    data = load_pickle(path)
    change(data)
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=2)


def test_caption_images_without_labels_are_counted_with_examples(tiny_cub):
    ids = read_captions(tiny_cub / "descriptions_bird.val.fg.json")[0]
    _rewrite_pickle(tiny_cub / cub.LABELS_FILE, lambda d: [d.pop(i) for i in ids[:2]])
    with pytest.raises(GvetoolError, match=rf"2 images have no label .*first: {ids[0]}"):
        cub.open_cub(tiny_cub)


def test_label_ids_out_of_range_are_refused(tiny_cub):
    def corrupt(d):
        d[next(iter(d))] = 5  # only 4 classes

    _rewrite_pickle(tiny_cub / cub.LABELS_FILE, corrupt)
    with pytest.raises(GvetoolError, match=r"1 label ids outside 1..4 \(classes.txt has 4"):
        cub.open_cub(tiny_cub)


def test_features_of_differing_dimension_are_refused_and_no_store_is_left(tiny_cub):
    def corrupt(d):
        d[sorted(d)[3]] = np.zeros(9, dtype=np.float32)

    _rewrite_pickle(tiny_cub / cub.FEATURES_FILE, corrupt)
    corpus = cub.open_cub(tiny_cub)
    with pytest.raises(
        GvetoolError, match=r"features of differing dimension: .* has 9, expected 16"
    ):
        open_precomputed(corpus, tiny_cub / "cache")
    leftovers = [p for p in (tiny_cub / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_caption_images_without_features_are_counted(tiny_cub):
    ids = read_captions(tiny_cub / "descriptions_bird.test.fg.json")[0]
    _rewrite_pickle(tiny_cub / cub.FEATURES_FILE, lambda d: d.pop(ids[1]))
    store = open_precomputed(cub.open_cub(tiny_cub), tiny_cub / "cache")
    with pytest.raises(GvetoolError, match=rf"1 test images have no features .*first: {ids[1]}"):
        store.rows(ids, what="test images")


def test_malicious_label_pickle_is_refused_without_running(tiny_cub, monkeypatch):
    monkeypatch.chdir(tiny_cub)

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    (tiny_cub / cub.LABELS_FILE).write_bytes(pickle.dumps({"a": Evil()}, protocol=2))
    with pytest.raises(GvetoolError, match="refused to load global"):
        cub.open_cub(tiny_cub)
    assert not (tiny_cub / "pwned").exists()


def test_bad_classes_file_names_the_line(tiny_cub):
    (tiny_cub / "classes.txt").write_text("1 001.A\n3 003.C\n")
    with pytest.raises(GvetoolError, match=r"classes.txt: line 2 should be '2 <class name>'"):
        cub.open_cub(tiny_cub)


def test_prepare_rebuilds_the_descriptions_from_the_raw_tsv(tiny_cub):
    before = {s: read_captions(tiny_cub / cub.descriptions_file(s)) for s in cub.SPLITS}
    for split in cub.SPLITS:
        (tiny_cub / cub.descriptions_file(split)).unlink()
    counts = cub.prepare_cub(tiny_cub)
    assert counts["skipped"] == 20  # one rejected row per image
    for split in cub.SPLITS:
        ids, captions, _ = read_captions(tiny_cub / cub.descriptions_file(split))
        assert dict(zip(ids, captions, strict=True)) == dict(
            zip(before[split][0], before[split][1], strict=True)
        )
        assert not any("REJECTED" in c for caps in captions for c in caps)
    assert counts["train"] == sum(len(c) for c in before["train"][1])
    cub.open_cub(tiny_cub)


def test_prepare_without_the_tsv_says_what_is_missing(tiny_cub):
    (tiny_cub / cub.RAW_TSV).unlink()
    with pytest.raises(GvetoolError, match=r"missing file .*cub_0917_5cap.tsv"):
        cub.prepare_cub(tiny_cub)


def test_a_pickle_bomb_in_the_release_is_one_line(tiny_cub, capsys):
    from gvetool.cli import main

    bomb: list = [0] * 10
    for _ in range(9):
        bomb = [bomb] * 10
    (tiny_cub / "CUB_label_dict.p").write_bytes(pickle.dumps({"001.A/a.jpg": bomb}, protocol=2))
    assert main(["data", "info", "--dataset", "cub", "--data-root", str(tiny_cub)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUB_label_dict.p was refused" in err[0]
