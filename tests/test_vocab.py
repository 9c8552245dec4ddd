"""Tokenisation and the vocabulary."""

from __future__ import annotations

import shutil

import pytest

from gvetool.data.tokenize import tokenize
from gvetool.data.vocab import SPECIALS, Vocabulary
from gvetool.errors import GvetoolError
from gvetool.io import write_json


def test_tokenize_is_ptb_like():
    assert tokenize("This bird has a RED crown, and a cone-shaped bill.") == [
        "this", "bird", "has", "a", "red", "crown", "and", "a", "cone-shaped", "bill",
    ]  # fmt: skip
    assert tokenize("It doesn't have the bird's (grey) wings...") == [
        "it", "does", "n't", "have", "the", "bird", "'s", "grey", "wings",
    ]  # fmt: skip
    assert tokenize("about 3.5 cm") == ["about", "3.5", "cm"]


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_tokenize_agrees_with_pycocoevalcap_on_descriptions():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    sentences = [
        "This bird has a RED crown, and a cone-shaped bill.",
        "a small bird with grey wings, a white belly and a short beak.",
        "It doesn't have the bird's wings; its tail is long!",
    ]
    ptb = PTBTokenizer().tokenize({i: [{"caption": s}] for i, s in enumerate(sentences)})
    for i, sentence in enumerate(sentences):
        assert tokenize(sentence) == ptb[i][0].split()


def test_build_counts_orders_and_thresholds():
    vocab = Vocabulary.build(["a red bird", "a blue bird", "a bird"], min_count=2)
    assert vocab.words == (*SPECIALS, "a", "bird")
    assert Vocabulary.build(["b a", "a"]).words[4:] == ("a", "b")
    with pytest.raises(GvetoolError, match="min-count must be >= 1"):
        Vocabulary.build([], min_count=0)


def test_encode_decode_and_unknown_words():
    vocab = Vocabulary.build(["a red bird"])
    ids = vocab.encode("A red parrot.")
    assert ids[-1] == vocab.end_id and vocab.unk_id in ids
    assert vocab.decode([vocab.start_id, *vocab.encode("a red bird"), 0, 0]) == "a red bird"
    assert vocab.decode(ids) == "a red <unk>"


def test_json_round_trip_and_refusal_of_other_files(tmp_path):
    vocab = Vocabulary.build(["a red bird"])
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == vocab
    write_json(tmp_path / "other.json", {"words": ["x"]})
    with pytest.raises(GvetoolError, match="is not a gvetool vocabulary"):
        Vocabulary.load(tmp_path / "other.json")
