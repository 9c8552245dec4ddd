"""The benchmarks' own datasets (reef fish, moths) are real CUB-layout datasets gvetool
opens, with the properties their generators promise."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from gvetool.builtins.datasets.cub import open_cub

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture
def generators(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("reef", "moths", "cub_layout"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module("reef"), importlib.import_module("moths")


def test_the_moths_captions_have_commas_hyphenated_colours_and_two_to_four_parts(
    generators, tmp_path
):
    _, moths = generators
    moths.write(tmp_path / "moths", classes=6, per_class=5, captions=10, dim=32, seed=0)
    corpus = open_cub(tmp_path / "moths")
    assert len(corpus.class_names) == 6
    train = corpus.split("train")
    captions = [c for image in train.captions for c in image]
    assert len(captions) == 6 * 3 * 10
    assert sum("," in c for c in captions) > len(captions) / 2
    assert any(re.search(r"\b\w+-(colored|tinted)\b", c) for c in captions)
    named = [len(re.findall(r"forewings|markings|antennae|body|hindwings", c)) for c in captions]
    assert min(named) >= 2 and max(named) <= 5  # "the moth is fuzzy, with ... a fuzzy body"
    assert len({w for c in captions for w in re.findall(r"[a-z-]+", c)}) < 100


def test_reef_and_moths_differ_in_what_they_describe(generators, tmp_path):
    reef, moths = generators
    reef.write(tmp_path / "reef", classes=4, per_class=5, captions=2, dim=16, seed=0)
    moths.write(tmp_path / "moths", classes=4, per_class=5, captions=2, dim=16, seed=0)
    fish = open_cub(tmp_path / "reef").split("test").captions
    moth = open_cub(tmp_path / "moths").split("test").captions
    assert all("fish" in c for image in fish for c in image)
    assert not any("fish" in c for image in moth for c in image)
