"""The numbers a preference study reports: win rates with bootstrap intervals, agreement.

Votes on one question are not independent of each other (the same two sentences), so the
interval resamples questions, each with all its votes, not single votes. Agreement among
raters is Fleiss' kappa in its form for questions answered by different numbers of raters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_SAMPLES = 2000


def win_rate(votes: Sequence[Sequence[bool]]) -> float:
    """Share of all votes (``True``: A won) that A won."""
    flat = [v for question in votes for v in question]
    return sum(flat) / len(flat) if flat else float("nan")


def bootstrap_interval(
    votes: Sequence[Sequence[bool]], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float]:
    """The 95% percentile interval of :func:`win_rate`, resampling questions."""
    asked = [q for q in votes if len(q)]
    if not asked:
        return float("nan"), float("nan")
    wins = np.array([sum(q) for q in asked], dtype=float)
    counts = np.array([len(q) for q in asked], dtype=float)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(asked), size=(samples, len(asked)))
    rates = wins[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(low), float(high)


def fleiss_kappa(ratings: Sequence[Sequence[int]], categories: int = 2) -> float | None:
    """Fleiss' kappa of ``ratings`` (per question, the category each rater chose), over
    the questions at least two raters answered; ``None`` where none was."""
    rows = [r for r in ratings if len(r) >= 2]
    if not rows:
        return None
    counts = np.array([np.bincount(r, minlength=categories) for r in rows], dtype=float)
    raters = counts.sum(axis=1)
    agreement = ((counts**2).sum(axis=1) - raters) / (raters * (raters - 1))
    observed = agreement.mean()
    shares = counts.sum(axis=0) / raters.sum()
    expected = float((shares**2).sum())
    if expected >= 1.0:  # every vote in one category: agreement is perfect, kappa undefined
        return 1.0 if observed >= 1.0 else None
    return float((observed - expected) / (1.0 - expected))
