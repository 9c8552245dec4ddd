"""The GVE paper's class-relevance measures, the independent judge and the repetition
measures as metric plugins, over the functions of :mod:`gvetool.evaluation`."""

from __future__ import annotations

import numpy as np

from gvetool.evaluation.judge import judge_for
from gvetool.evaluation.relevance import class_rank, class_similarity, top_k_accuracy
from gvetool.evaluation.repetition import repeats_a_phrase, repetition
from gvetool.evaluation.scoring import MetricResult, ScoringInput


class _Measure:
    def close(self) -> None:
        """Nothing held."""


def _true_classes(scoring: ScoringInput) -> tuple[np.ndarray, list[str]]:
    assert scoring.class_ids is not None and scoring.class_names
    return np.asarray(scoring.class_ids), scoring.class_names


def _classified(
    scoring: ScoringInput, logits: np.ndarray, prefix: str, read_as: str
) -> MetricResult:
    """A classifier's reading of the sentences: its top-1/5 accuracy, whether each image's
    sentence was read as its class (averaged per class), and the class it was read as."""
    true, names = _true_classes(scoring)
    predicted = logits.argmax(1)
    totals = {
        f"{prefix}_top1": top_k_accuracy(logits, true, 1),
        f"{prefix}_top5": top_k_accuracy(logits, true, 5),
    }
    return MetricResult(
        totals,
        per_class={f"{prefix}_top1": (predicted == true).astype(float)},
        annotations={read_as: [names[int(c)] for c in predicted]},
    )


class ClassRelevance(_Measure):
    """Class similarity (CIDEr-D against the true class's training references) and the
    true class's rank by it."""

    def score(self, scoring: ScoringInput) -> MetricResult:
        true, names = _true_classes(scoring)
        training = scoring.training
        similarity = class_similarity(
            scoring.words, training.documents, training.class_ids, len(names)
        )
        ranks = class_rank(similarity, true)
        totals = {
            "class_similarity": float(similarity[np.arange(len(true)), true].mean()),
            "class_rank": float(ranks.mean()),
            "class_rank_top1": float((ranks == 1).mean()),
        }
        rank_list = [int(r) for r in ranks]
        return MetricResult(
            totals, per_class={"class_rank": rank_list}, annotations={"class_rank": rank_list}
        )


class Judge(_Measure):
    """Accuracy of a TF-IDF + logistic-regression judge fitted on the training captions."""

    def score(self, scoring: ScoringInput) -> MetricResult:
        _, names = _true_classes(scoring)
        training = scoring.training
        judge = judge_for(training.captions(), training.caption_classes(), len(names), names)
        return _classified(scoring, judge.logits(scoring.words), "judge", "judged_as")


class ExplanationAccuracy(_Measure):
    """Accuracy of the sentence classifier GVE is rewarded by, on the sentences."""

    def score(self, scoring: ScoringInput) -> MetricResult:
        assert scoring.classifier_logits is not None
        return _classified(scoring, scoring.classifier_logits, "explanation", "explained_as")


class Repetition(_Measure):
    """How often sentences repeat a phrase, and how many are distinct."""

    def score(self, scoring: ScoringInput) -> MetricResult:
        return MetricResult(
            repetition(scoring.words),
            annotations={"repeats": [repeats_a_phrase(words) for words in scoring.words]},
        )
