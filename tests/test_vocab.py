"""Tokenisation and the vocabulary."""

from __future__ import annotations

import shutil

import pytest

from gvetool.data import tokenize as tokenize_module
from gvetool.data.tokenize import python_tokens, sentence_tokens, tokenize_captions
from gvetool.data.vocab import SPECIALS, Vocabulary
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import write_json

TRICKY = [
    "This bird has a RED crown, and a cone-shaped bill.",
    'A bird with black/white wings and a "pointy" beak.',
    "It doesn't have (any) 3.5-inch tail... really?!",
    "this bird's crown is yellow-ish & its belly's white",
    "Grey   wings;   a  tail -- long!!",
    "a bird: small, round; its bill is short and, well, stubby.",
    "an 'odd' bird with a {curved} bill and [striped] tail",
    "a caf\u00e9-coloured bird\u2028with a line break inside",
    "",
]
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")


def test_python_fallback_is_ptb_like_on_plain_descriptions():
    assert python_tokens("This bird has a RED crown, and a cone-shaped bill.") == [
        "this",
        "bird",
        "has",
        "a",
        "red",
        "crown",
        "and",
        "a",
        "cone-shaped",
        "bill",
    ]
    assert python_tokens("It doesn't have the bird's wings...") == [
        "it",
        "does",
        "n't",
        "have",
        "the",
        "bird",
        "'s",
        "wings",
    ]
    assert python_tokens("about 3.5 cm") == ["about", "3.5", "cm"]


@needs_java
def test_tokens_are_pycocoevalcaps_ptb_tokens_on_tricky_sentences():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    plain = TRICKY[:-2]  # pycocoevalcap splits the one with a Unicode line break in two
    ptb = PTBTokenizer().tokenize({i: [{"caption": s}] for i, s in enumerate(plain)})
    ours = tokenize_captions(TRICKY)
    for i, sentence in enumerate(plain):
        assert ours[i] == ptb[i][0].split(), sentence
    assert ours[-1] == []
    assert [t for t in ours[1] if "/" in t] == ["black/white"]  # no regex split
    assert "?!" in ours[2] and "-lrb-" in ours[2]  # pycocoevalcap keeps both
    assert ours[7] == ["a", "caf\u00e9-coloured", "bird", "with", "a", "line", "break", "inside"]


@needs_java
def test_the_ptb_tokenizer_returns_its_own_output_unchanged():
    """Why generated sentences (vocabulary tokens joined by spaces) are split on spaces."""
    once = tokenize_captions(TRICKY, cache=False)
    twice = tokenize_captions([" ".join(tokens) for tokens in once], cache=False)
    assert twice == once
    assert [sentence_tokens(" ".join(tokens)) for tokens in once] == once


@needs_java
def test_tokens_are_cached_once_per_caption_set(monkeypatch, tmp_path):
    first = tokenize_captions(TRICKY)
    cached = list((tmp_path / "gvetool-home" / "tokens").glob("ptb-*.json"))
    assert len(cached) == 1
    with monkeypatch.context() as patched:
        patched.setattr(tokenize_module, "ptb_tokens", lambda texts: pytest.fail("ran Java again"))
        assert tokenize_captions(TRICKY) == first
    assert tokenize_captions(TRICKY[:3]) == first[:3]  # another caption set: its own entry
    assert len(list(cached[0].parent.glob("ptb-*.json"))) == 2


def test_without_java_the_python_fallback_warns_once_and_is_cached_apart(monkeypatch, capsys):
    monkeypatch.setattr(tokenize_module, "java_available", lambda: False)
    monkeypatch.setattr(tokenize_module, "_warned", False)
    assert tokenize_captions(["A red bird."]) == [["a", "red", "bird"]]
    tokenize_captions(["A blue bird."])
    err = capsys.readouterr().err
    assert err.count("no 'java' found") == 1
    assert len(err.strip().splitlines()) == 1


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
