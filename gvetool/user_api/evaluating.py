"""Evaluating from Python: ``evaluate`` scores a checkpoint as ``gvetool eval`` does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gvetool.utils.console import quiet_unless_asked


@quiet_unless_asked
def evaluate(
    checkpoint: str | Path,
    *,
    split: str = "test",
    beam: int = 1,
    max_len: int = 50,
    length_penalty: float = 0.0,
    data_root: str | Path | None = None,
    sc_ckpt: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    out: str | Path | None = None,
    force: bool = False,
    write: bool = True,
    metrics: str | Sequence[str] | None = None,
) -> Any:
    """Score a captioning checkpoint (``best.pt``, ``last.pt`` or a run directory) on
    ``split`` with the metric plugins ``metrics`` (names, or ``"a,b"``; default: every
    metric registered for evaluation, :func:`list_metrics`); returns a
    :class:`gvetool.evaluation.evaluate.Evaluation` (metrics, per-image predictions,
    per-class measures). With ``write`` (the default) its
    ``metrics.json``, ``predictions/<split>.json`` and ``report.html`` are written to
    ``out`` (default: the run directory), as ``gvetool eval`` writes them; results of
    other decoding settings are kept unless ``force``."""
    from gvetool.engine.rundir import run_dir_of
    from gvetool.evaluation.evaluate import decoding
    from gvetool.evaluation.evaluate import evaluate as run_evaluation
    from gvetool.evaluation.report import refuse_other_settings, write_outputs
    from gvetool.evaluation.scoring import parse_names

    names = None if metrics is None else parse_names(metrics)
    checkpoint = Path(checkpoint)
    target = Path(out) if out else run_dir_of(checkpoint)
    sc_path = Path(sc_ckpt).absolute() if sc_ckpt else None
    if write:
        refuse_other_settings(
            target, split, decoding(beam, max_len, length_penalty), sc_path, force
        )
    evaluation = run_evaluation(
        checkpoint,
        split,
        beam,
        max_len,
        Path(data_root) if data_root else None,
        sc_path,
        batch_size,
        length_penalty,
        device,
        metrics=names,
    )
    if write:
        title = f"{evaluation.model} on {evaluation.dataset} ({split}, beam {beam})"
        evaluation.report = write_outputs(evaluation, target, title)
    return evaluation
