"""The measures themselves: plain counting over the sentences' words."""

from __future__ import annotations

from collections.abc import Sequence

from gvetool.plugin_api import MetricResult, ScoringInput


def distinct(sentences: Sequence[Sequence[str]], n: int) -> float:
    """Distinct ``n``-grams over all ``n``-grams of ``sentences`` (0 when there are none)."""
    grams = [tuple(words[i : i + n]) for words in sentences for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


class Lexical:
    def score(self, scoring: ScoringInput) -> MetricResult:
        words = scoring.words
        lengths = [float(len(w)) for w in words]
        return MetricResult(
            {
                "vocabulary_usage": float(len({word for w in words for word in w})),
                "distinct_1": distinct(words, 1),
                "distinct_2": distinct(words, 2),
                "mean_length": sum(lengths) / len(lengths) if lengths else 0.0,
            },
            per_image={"length": lengths},
        )

    def close(self) -> None:
        """Nothing held."""


class Novelty:
    def score(self, scoring: ScoringInput) -> MetricResult:
        seen = {tuple(tokens) for tokens in scoring.training.captions()}
        novel = [float(tuple(w) not in seen) for w in scoring.words]
        return MetricResult(
            {"novel_sentences": sum(novel) / len(novel) if novel else 0.0},
            annotations={"novel": [bool(x) for x in novel]},
        )

    def close(self) -> None:
        """Nothing held."""
