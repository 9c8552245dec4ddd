"""The human-evaluation kit: which of two runs explains better, as people judge it.

    study = gvetool.study.make("runs/lrcn-...", "runs/gve-...", pairs=100, out="study")
    # raters open study/questionnaire.html, answer, download their CSVs
    result = gvetool.study.score("study", ["answers-ann.csv", "answers-bob.csv"])
    result.a_win_rate, result.interval, result.kappa

The GVE paper's strongest evidence was such a study ("which sentence better explains why
this is a cardinal?"); this makes one from two trained runs and scores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gvetool.study.making import Study, make_study
from gvetool.study.scoring import RaterResult, StudyResult, score_study
from gvetool.utils.console import quiet_unless_asked

__all__ = ["RaterResult", "Study", "StudyResult", "make", "score"]


@quiet_unless_asked
def make(
    run_a: str | Path,
    run_b: str | Path,
    *,
    out: str | Path,
    split: str = "test",
    pairs: int = 50,
    seed: int = 0,
    checks: int | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
) -> Study:
    """Make a study of ``pairs`` A/B questions (run A against run B on ``split``) and
    ``checks`` attention checks (default: one per ten pairs, at least two) in ``out``."""
    return make_study(
        Path(run_a),
        Path(run_b),
        Path(out),
        split,
        pairs,
        seed,
        checks,
        Path(data_root) if data_root else None,
        device,
    )


@quiet_unless_asked
def score(
    directory: str | Path,
    answers: str | Path | Sequence[str | Path],
    *,
    allowed_misses: int = 0,
    seed: int = 0,
) -> StudyResult:
    """Score answer CSVs against the study in ``directory``; writes ``result.json``.

    A rater who misses more than ``allowed_misses`` attention checks is excluded."""
    files = [answers] if isinstance(answers, (str, Path)) else list(answers)
    return score_study(Path(directory), [Path(f) for f in files], allowed_misses, seed)
