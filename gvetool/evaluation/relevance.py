"""Class relevance of explanations, the GVE paper's measures.

* **explanation accuracy**: top-1 / top-5 accuracy of the frozen sentence classifier on the
  generated sentences (does the sentence say which class it is?);
* **class similarity**: CIDEr of a generated sentence against all reference sentences of its
  true class, and **class rank**: the rank of the true class when all classes are ordered
  by that similarity (1 is best).

The CIDEr reported here is plain CIDEr (Vedantam et al. 2015), not pycocoevalcap's CIDEr-D:
no clipping of n-gram counts and no length penalty; like pycocoevalcap it averages the
cosine similarity of TF-IDF n-gram vectors over n = 1..4 and the references, scaled by 10,
with IDF from the evaluation split's images. Without the -D terms the score is linear in
the references, so a class's references collapse into one centroid per n and scoring every
sentence against every class is one sparse matrix product — seconds at CUB size (2,947
sentences x 200 classes x ~300 references a class) instead of hours. On sentences where
clipping and the length penalty do nothing it equals pycocoevalcap's scorer (tested).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from gvetool.data.tokenize import tokenize

MAX_N = 4


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


class TfIdf:
    """TF-IDF n-gram vectors with document frequencies over a set of reference groups."""

    def __init__(self, documents: Sequence[Sequence[list[str]]]) -> None:
        """``documents``: per image, its tokenised reference sentences (one document each)."""
        self.columns: list[dict[tuple[str, ...], int]] = [{} for _ in range(MAX_N)]
        df: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(MAX_N)]
        for references in documents:
            for n in range(MAX_N):
                df[n].update(set().union(*(_ngrams(t, n + 1) for t in references)))
        self.log_documents = math.log(float(max(1, len(documents))))
        self.idf = []
        for n in range(MAX_N):
            for gram in df[n]:
                self.columns[n][gram] = len(self.columns[n])
            weights = np.zeros(len(self.columns[n]))
            for gram, column in self.columns[n].items():
                weights[column] = self.log_documents - math.log(max(1.0, df[n][gram]))
            self.idf.append(weights)

    def vectors(self, sentences: Sequence[list[str]]) -> list[sparse.csr_matrix]:
        """Per n, the L2-normalised TF-IDF vectors of tokenised ``sentences`` (rows).

        Norms run over *all* n-grams, like pycocoevalcap (an n-gram no reference has weighs
        log N); such n-grams are left out of the vector, as their similarity is 0 anyway.
        """
        out = []
        for n in range(MAX_N):
            data, indices, indptr = [], [], [0]
            norms = np.zeros(len(sentences))
            for row, tokens in enumerate(sentences):
                total = 0.0
                for gram, count in _ngrams(tokens, n + 1).items():
                    column = self.columns[n].get(gram)
                    if column is None:
                        total += (count * self.log_documents) ** 2
                        continue
                    value = count * self.idf[n][column]
                    total += value * value
                    indices.append(column)
                    data.append(value)
                indptr.append(len(indices))
                norms[row] = math.sqrt(total)
            matrix = sparse.csr_matrix(
                (np.asarray(data, dtype=np.float64), indices, indptr),
                shape=(len(sentences), len(self.columns[n])),
            )
            scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            out.append(sparse.diags(scale) @ matrix)
        return out


def class_similarity(
    candidates: Sequence[str],
    references: Sequence[Sequence[str | list[str]]],
    reference_classes: Sequence[int],
    num_classes: int,
) -> np.ndarray:
    """CIDEr of every candidate against every class's references: ``[candidates, classes]``.

    ``references[i]`` are image i's references (sentences, or already tokenised) and
    ``reference_classes[i]`` its class; the images also serve as the IDF documents. Every
    sentence is tokenised once.
    """
    documents = [[r if isinstance(r, list) else tokenize(r) for r in refs] for refs in references]
    tfidf = TfIdf(documents)
    flat = [tokens for refs in documents for tokens in refs]
    owner = np.repeat(np.asarray(reference_classes), [len(refs) for refs in references])
    counts = np.bincount(owner, minlength=num_classes).astype(np.float64)
    # Class membership with 1/count weights: the centroid is the mean reference vector.
    membership = sparse.csr_matrix(
        (1.0 / counts[owner], (owner, np.arange(len(flat)))), shape=(num_classes, len(flat))
    )
    scores = np.zeros((len(candidates), num_classes))
    candidate_vectors = tfidf.vectors([tokenize(c) for c in candidates])
    for candidate_n, reference_n in zip(candidate_vectors, tfidf.vectors(flat), strict=True):
        centroids = membership @ reference_n
        scores += (candidate_n @ centroids.T).toarray()
    return 10.0 * scores / MAX_N


def class_rank(similarity: np.ndarray, true_classes: Sequence[int]) -> np.ndarray:
    """1-based rank of each sentence's true class by similarity; ties share the mean rank
    (a sentence similar to no class at all ranks in the middle, not first)."""
    true = similarity[np.arange(len(similarity)), np.asarray(true_classes)]
    higher = (similarity > true[:, None]).sum(axis=1)
    tied = (similarity == true[:, None]).sum(axis=1) - 1
    return 1 + higher + tied / 2


def top_k_accuracy(logits: np.ndarray, true_classes: Sequence[int], k: int) -> float:
    """Share of rows whose true class is among the ``k`` highest scores."""
    if len(logits) == 0:
        return 0.0
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float((top == np.asarray(true_classes)[:, None]).any(axis=1).mean())
