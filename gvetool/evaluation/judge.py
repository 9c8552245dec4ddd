"""An independent judge of class relevance: which class is a sentence about?

GVE is rewarded by a sentence classifier; scoring its explanations with that same
classifier (``explanation_top1``) measures how well GVE learned to please it, which
flatters GVE. The judge is a different kind of model that no captioner was ever trained
against: TF-IDF word 1- and 2-grams and a multinomial logistic regression (scikit-learn),
fitted on the training split's descriptions and their classes.

It is fitted once per dataset (a few seconds; about a minute at CUB size) and cached under
``$GVETOOL_HOME/judges`` as plain arrays (``.npz`` without pickles: a cache file is never
executed), keyed by a hash of the training tokens and classes. Prediction recomputes the
TF-IDF features from those arrays, so scikit-learn is imported only to fit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gvetool.utils import console
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import atomic_write
from gvetool.utils.paths import home

VERSION = "2"  # 2: one row per class id, absent classes included
NGRAMS = (1, 2)
REGULARISATION = 10.0  # inverse strength C; descriptions are short and classes many
MAX_ITERATIONS = 300


def _features(tokens: Sequence[str]) -> list[str]:
    grams = []
    for n in range(NGRAMS[0], NGRAMS[1] + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


@dataclass(frozen=True)
class Judge:
    """A fitted TF-IDF + logistic-regression sentence classifier, as plain arrays."""

    vocabulary: np.ndarray  # str, the n-gram of each feature column
    idf: np.ndarray  # float64 [features]
    coef: np.ndarray  # float64 [classes, features]
    intercept: np.ndarray  # float64 [classes]

    @classmethod
    def fit(
        cls, sentences: Sequence[Sequence[str]], classes: Sequence[int], num_classes: int
    ) -> Judge:
        """Fit on tokenised ``sentences`` and their class ids (``0 <= id < num_classes``).

        A class without training sentences (a cross-validation fold can lack some) gets a
        row that always scores ``-inf``: the judge never predicts a class it has not seen,
        and its logits keep one column per class id whatever was present.
        """
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(analyzer=_features, lowercase=False)
        features = vectorizer.fit_transform(sentences)
        labels = np.asarray(classes, dtype=np.int64)
        present = np.unique(labels)
        coef = np.zeros((num_classes, features.shape[1]), dtype=np.float64)
        intercept = np.full(num_classes, -np.inf)
        intercept[present] = 0.0
        if len(present) > 1:
            model = LogisticRegression(C=REGULARISATION, max_iter=MAX_ITERATIONS)
            model.fit(features, labels)
            # Two classes: scikit-learn keeps one row, the log-odds of classes_[1] over
            # classes_[0]; a zero row for classes_[0] gives the same ranking.
            rows = model.classes_ if len(present) > 2 else model.classes_[1:]
            coef[rows] = model.coef_
            intercept[rows] = model.intercept_
        words = np.array(vectorizer.get_feature_names_out(), dtype=str)
        return cls(words, vectorizer.idf_.astype(np.float64), coef, intercept)

    def logits(self, sentences: Sequence[Sequence[str]]) -> np.ndarray:
        """Class scores ``[sentences, classes]`` (TfidfVectorizer's features, l2-normalised)."""
        from scipy import sparse

        column = {gram: i for i, gram in enumerate(self.vocabulary.tolist())}
        rows, cols, values = [], [], []
        for row, tokens in enumerate(sentences):
            counts: dict[int, int] = {}
            for gram in _features(tokens):
                if gram in column:
                    counts[column[gram]] = counts.get(column[gram], 0) + 1
            weights = {c: n * self.idf[c] for c, n in counts.items()}
            norm = float(np.sqrt(sum(w * w for w in weights.values())))
            for c, w in weights.items():
                rows.append(row)
                cols.append(c)
                values.append(w / norm)
        shape = (len(sentences), len(self.vocabulary))
        matrix = sparse.csr_matrix((values, (rows, cols)), shape=shape)
        return np.asarray(matrix @ self.coef.T) + self.intercept

    def save(self, path: Path) -> None:
        with atomic_write(path) as handle:
            np.savez(
                handle,
                vocabulary=self.vocabulary,
                idf=self.idf,
                coef=self.coef,
                intercept=self.intercept,
            )

    @classmethod
    def load(cls, path: Path) -> Judge:
        with np.load(path, allow_pickle=False) as arrays:
            return cls(*(arrays[key] for key in ("vocabulary", "idf", "coef", "intercept")))


def judge_for(
    sentences: Sequence[Sequence[str]],
    classes: Sequence[int],
    num_classes: int,
    class_names: Sequence[str] | None = None,
) -> Judge:
    """The judge of this training set: from the cache, or fitted and cached.

    Classes without training sentences are named in a warning: the judge cannot predict
    them, so its accuracy on their images is 0 by construction.
    """
    absent = sorted(set(range(num_classes)) - {int(c) for c in classes})
    if absent:
        names = [class_names[c] if class_names else f"class id {c}" for c in absent]
        example = ", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
        console.warn(
            f"{len(absent)} of {num_classes} classes have no training descriptions "
            f"({example}): the judge never predicts them"
        )
    digest = hashlib.sha256(f"{VERSION}:{NGRAMS}:{REGULARISATION}:{num_classes}\0".encode())
    for tokens, c in zip(sentences, classes, strict=True):
        digest.update(f"{c}\t{' '.join(tokens)}\n".encode())
    path = home() / "judges" / f"{digest.hexdigest()[:32]}.npz"
    try:
        return Judge.load(path)
    except (OSError, ValueError, KeyError):
        pass  # not fitted yet, or an unreadable cache entry: fit again
    console.err().print(
        f"fitting the independent judge on {len(sentences)} training descriptions",
        highlight=False,
    )
    judge = Judge.fit(sentences, classes, num_classes)
    try:
        os.makedirs(path.parent, exist_ok=True)
        judge.save(path)
    except (OSError, GvetoolError) as exc:
        console.warn(f"could not cache the judge in {path.parent} ({exc}); continuing")
    return judge
