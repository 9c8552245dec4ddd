"""Class relevance of explanations, the GVE paper's measures.

* **explanation accuracy**: top-1 / top-5 accuracy of the frozen sentence classifier on the
  generated sentences (does the sentence say which class it is?); the **judge**
  (:mod:`gvetool.evaluation.judge`) gives the same accuracy from a classifier that no model
  was trained against;
* **class similarity**: CIDEr-D of a generated sentence against all training reference
  sentences of its true class, and **class rank**: the rank of the true class when all
  classes are ordered by that similarity (1 is best).

Class similarity is pycocoevalcap's CIDEr-D (n = 1..4, clipped n-gram counts, Gaussian
length penalty with sigma 6, x10) with each class's training references as the reference
set of one "image": the IDF documents are the classes (an n-gram's document frequency is
the number of classes whose references contain it), exactly what
``Cider().compute_score({c: refs_c}, {c: [sentence]})`` returns for every class ``c``.

Computed naively that is every sentence against every training reference (5,794 x ~60,000
pairs x 4 n at CUB size). Here it is a few sparse products per n instead: with TF-IDF
weights ``w_g`` shared by sentence and reference, the clipped term
``min(h_g, r_g) r_g = w_g^2 min(tf_h, tf_r) tf_r = w_g^2 sum_k [tf_h >= k][tf_r >= k] tf_r``
is linear in the reference once split by ``k``; and the length penalty depends on the
reference only through its length, so references of one class and one length sum into
one row. Same numbers as pycocoevalcap's scorer (tested), in seconds to a minute at CUB
size (``benchmarks/eval.py``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from gvetool.utils.progress import progress_bar

MAX_N = 4
SIGMA = 6.0


def _counts(tokens: Sequence[str]) -> list[Counter[tuple[str, ...]]]:
    """Per n (1..4), the n-gram counts of a sentence, as pycocoevalcap's ``precook``."""
    return [
        Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        for n in range(1, MAX_N + 1)
    ]


def _length(counts: list[Counter[tuple[str, ...]]]) -> int:
    """pycocoevalcap's length for the penalty: the number of bigrams."""
    return sum(counts[1].values())


def class_similarity(
    candidates: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
    reference_classes: Sequence[int],
    num_classes: int,
    chunk: int = 256,
) -> np.ndarray:
    """CIDEr-D of every candidate against every class's references: ``[candidates, classes]``.

    ``candidates`` and ``references[i]`` (image i's reference sentences, its class
    ``reference_classes[i]``) are tokenised. A class without references scores 0 and is
    not an IDF document.
    """
    by_class: list[list[list[Counter]]] = [[] for _ in range(num_classes)]
    for refs, c in zip(references, reference_classes, strict=True):
        by_class[int(c)].extend(_counts(tokens) for tokens in refs)
    present = [c for c in range(num_classes) if by_class[c]]
    df: Counter[tuple[str, ...]] = Counter()
    for c in present:
        df.update({gram for counts in by_class[c] for n in counts for gram in n})
    log_documents = math.log(float(max(1, len(present))))

    def weight(gram: tuple[str, ...]) -> float:
        return log_documents - math.log(max(1.0, df.get(gram, 0)))

    cand_counts = [_counts(tokens) for tokens in candidates]
    top_k = max((max(n.values(), default=0) for c in cand_counts for n in c), default=0)
    columns: list[dict[tuple[str, ...], int]] = [{} for _ in range(MAX_N)]
    for counts in cand_counts:
        for n in range(MAX_N):
            for gram in counts[n]:
                columns[n].setdefault(gram, len(columns[n]))

    # Reference side: one row per (class, length); G[n][k][row, gram] sums, over the
    # row's references, [tf_r >= k] * tf_r * w^2 / |r_n|.
    groups: dict[tuple[int, int], int] = {}
    entries = [[defaultdict(float) for _ in range(top_k)] for _ in range(MAX_N)]
    for c in present:
        for counts in by_class[c]:
            row = groups.setdefault((c, _length(counts)), len(groups))
            for n in range(MAX_N):
                norm = math.sqrt(sum((tf * weight(g)) ** 2 for g, tf in counts[n].items()))
                if norm == 0:
                    continue
                for gram, tf in counts[n].items():
                    column = columns[n].get(gram)
                    if column is None:
                        continue
                    value = tf * weight(gram) ** 2 / norm
                    for k in range(min(tf, top_k)):
                        entries[n][k][row, column] += value
    group_class = np.array([c for c, _ in groups], dtype=np.int64)
    group_length = np.array([length for _, length in groups], dtype=np.float64)
    sizes = np.array([len(by_class[c]) for c in range(num_classes)], dtype=np.float64)
    # Averaging over a class's references: group rows summed per class, / its size.
    averaging = sparse.csr_matrix(
        (1.0 / sizes[group_class], (np.arange(len(groups)), group_class)),
        shape=(len(groups), num_classes),
    )
    reference_side = [
        [_matrix(entries[n][k], len(groups), len(columns[n])).T.tocsr() for k in range(top_k)]
        for n in range(MAX_N)
    ]

    scores = np.zeros((len(candidates), num_classes))
    with progress_bar(len(candidates), "class similarity") as advance:
        for start in range(0, len(candidates), chunk):
            block = cand_counts[start : start + chunk]
            total = np.zeros((len(block), len(groups)))
            for n in range(MAX_N):
                norms = np.array(
                    [math.sqrt(sum((tf * weight(g)) ** 2 for g, tf in c[n].items())) for c in block]
                )
                dots = np.zeros_like(total)
                for k in range(top_k):
                    hits = [
                        (i, columns[n][g])
                        for i, c in enumerate(block)
                        for g, tf in c[n].items()
                        if tf > k
                    ]
                    if hits:
                        rows, cols = zip(*hits, strict=True)
                        indicator = sparse.csr_matrix(
                            (np.ones(len(hits)), (rows, cols)), shape=(len(block), len(columns[n]))
                        )
                        dots += (indicator @ reference_side[n][k]).toarray()
                scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
                total += dots * scale[:, None]
            lengths = np.array([_length(c) for c in block], dtype=np.float64)
            penalty = np.exp(-((lengths[:, None] - group_length[None, :]) ** 2) / (2 * SIGMA**2))
            scores[start : start + len(block)] = (total * penalty) @ averaging
            advance(len(block))
    return 10.0 * scores / MAX_N


def _matrix(entries: dict[tuple[int, int], float], rows: int, columns: int) -> sparse.csr_matrix:
    if not entries:
        return sparse.csr_matrix((rows, columns))
    (row, column), values = zip(*entries.keys(), strict=True), list(entries.values())
    return sparse.csr_matrix((values, (row, column)), shape=(rows, columns))


def class_rank(similarity: np.ndarray, true_classes: Sequence[int]) -> np.ndarray:
    """1-based rank of each sentence's true class by similarity; ties share the mean rank
    (a sentence similar to no class at all ranks in the middle, not first)."""
    true = similarity[np.arange(len(similarity)), np.asarray(true_classes)]
    higher = (similarity > true[:, None]).sum(axis=1)
    tied = (similarity == true[:, None]).sum(axis=1) - 1
    return 1 + higher + tied / 2


def top_k_accuracy(logits: np.ndarray, true_classes: Sequence[int], k: int) -> float:
    """Share of rows whose true class is among the ``k`` highest scores.

    A class scored ``-inf`` (one the classifier never saw) is never counted as found, even
    when ``k`` exceeds the number of classes it can predict.
    """
    if len(logits) == 0:
        return 0.0
    k = min(k, logits.shape[1])
    true = np.asarray(true_classes)
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    found = (top == true[:, None]).any(axis=1)
    possible = np.isfinite(logits[np.arange(len(true)), true])
    return float((found & possible).mean())
