"""Degeneration made visible: how often generated sentences repeat themselves.

REINFORCE against a sentence classifier can be gamed by repeating a phrase the
classifier likes ("a short conical beak a short conical beak ..."), which raises the
reward while the captions stop being sentences, and collapses many images onto one
sentence. Two numbers show it beside the caption metrics:

* ``repeated_trigram_share``: the share of sentences in which some word trigram occurs
  more than once;
* ``distinct_sentences``: distinct sentences per image (1.0: every image its own);
* ``mean_sentence_length``: words per sentence (the end token not counted), the first
  sign of a model that runs on where references stop.
"""

from __future__ import annotations

from collections.abc import Sequence

REPEAT_N = 3


def repeats_a_phrase(tokens: Sequence[str], n: int = REPEAT_N) -> bool:
    """Whether some ``n``-gram of ``tokens`` occurs more than once."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) < len(grams)


def repetition(sentences: Sequence[Sequence[str]]) -> dict[str, float]:
    """The repetition measures and the mean length of tokenised ``sentences`` (one per
    image)."""
    if not sentences:
        return {
            "repeated_trigram_share": 0.0,
            "distinct_sentences": 0.0,
            "mean_sentence_length": 0.0,
        }
    repeated = sum(repeats_a_phrase(tokens) for tokens in sentences)
    distinct = len({tuple(tokens) for tokens in sentences})
    return {
        "repeated_trigram_share": repeated / len(sentences),
        "distinct_sentences": distinct / len(sentences),
        "mean_sentence_length": sum(len(tokens) for tokens in sentences) / len(sentences),
    }
