"""The feature store: built once, memory-mapped, rebuilt when its source changes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gvetool.builtins.datasets import cub
from gvetool.data.features import (
    FEATURES_FILE,
    INDEX_FILE,
    FeatureStore,
    build_from_mapping,
    open_precomputed,
)
from gvetool.utils.errors import GvetoolError


def test_store_is_built_once_then_reopened_without_reading_the_source(tiny_cub, monkeypatch):
    corpus = cub.open_cub(tiny_cub)
    first = open_precomputed(corpus)
    assert isinstance(first.array, np.memmap)
    assert first.directory.parent == tiny_cub.parent / "gvetool-home" / "features"

    def no_reading(self):
        raise AssertionError("the pickle was read again")

    monkeypatch.setattr(cub.PickleFeatures, "read", no_reading)
    again = open_precomputed(cub.open_cub(tiny_cub))
    assert again.directory == first.directory
    np.testing.assert_array_equal(np.asarray(again.array), np.asarray(first.array))


def test_changed_source_gets_a_new_store(tiny_cub):
    first = open_precomputed(cub.open_cub(tiny_cub))
    path = tiny_cub / cub.FEATURES_FILE
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = open_precomputed(cub.open_cub(tiny_cub))
    assert second.directory != first.directory


def test_incomplete_store_is_rebuilt(tiny_cub):
    store = open_precomputed(cub.open_cub(tiny_cub))
    (store.directory / INDEX_FILE).unlink()
    rebuilt = open_precomputed(cub.open_cub(tiny_cub))
    assert len(rebuilt) == 20


def test_store_converts_to_float32_and_consumes_the_mapping(tmp_path):
    mapping = {"b": np.arange(3, dtype=np.float64), "a": np.ones(3, dtype=np.float32)}
    build_from_mapping(tmp_path / "s", mapping, "fp")
    assert mapping == {}
    store = FeatureStore(tmp_path / "s")
    assert store.image_ids == ["a", "b"] and store.array.dtype == np.float32
    np.testing.assert_array_equal(store.array[store.rows(["b"])], [[0, 1, 2]])


def test_store_with_wrong_shape_is_reported(tmp_path):
    build_from_mapping(tmp_path / "s", {"a": np.ones(3)}, "fp")
    np.save(tmp_path / "s" / FEATURES_FILE, np.ones((2, 3), dtype=np.float32))
    with pytest.raises(GvetoolError, match="delete the folder to rebuild it"):
        FeatureStore(tmp_path / "s")


@pytest.mark.parametrize("bad", [np.ones((2, 2)), np.array(["x", "y"])])
def test_non_vector_features_are_refused(tmp_path, bad):
    with pytest.raises(GvetoolError, match="should be a 1-d numeric vector"):
        build_from_mapping(tmp_path / "s", {"a": bad}, "fp")


@pytest.mark.parametrize(
    "change",
    [{"image_ids": "a"}, {"image_ids": [1, 2]}, {"dim": "3"}, {"dim": -1}, {"dim": None}],
)
def test_an_index_with_wrong_types_is_one_line(tmp_path, change):
    import json

    build_from_mapping(tmp_path / "s", {"a": np.ones(3)}, "fp")
    index = json.loads((tmp_path / "s" / INDEX_FILE).read_text())
    index.update(change)
    (tmp_path / "s" / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(
        GvetoolError, match=r"is damaged .*delete that folder and it will be rebuilt"
    ):
        FeatureStore(tmp_path / "s")
