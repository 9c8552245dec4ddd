"""Many trainings from Python: cross-validation, the paper's table, the demo pipeline.

Each is resumable as its command is: a rerun with the same arguments finishes what an
interrupted one left and repeats nothing that finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gvetool.user_api.results import CrossValidation, Fold, Reproduction
from gvetool.user_api.training import resolve_options
from gvetool.utils.console import quiet_unless_asked


@quiet_unless_asked
def cross_validate(
    model: str,
    *,
    folds: int = 3,
    stratified: bool = False,
    same_model: bool = False,
    sc_ckpt: str | Path | None = None,
    config: str | Path | None = None,
    seeds: Sequence[int] | None = None,
    launcher: str | None = None,
    launcher_options: dict[str, Any] | None = None,
    **options: Any,
) -> CrossValidation:
    """k-fold cross-validation over images, as ``gvetool cv``; a rerun resumes.

    ``seeds``: the whole cross-validation once per seed (its own folds each), summarised
    over seeds; ``launcher``/``launcher_options``: which launcher plugin runs the folds
    and how (a ``[launcher]`` table of ``config`` gives defaults). A fold that does not
    finish raises :class:`GvetoolError` naming it, after the others are summarised.
    """
    from gvetool.workflows.cv import cross_validate as run_cv
    from gvetool.workflows.cv import cv_directory

    resolved = resolve_options(model, config, options)
    chosen = _launcher(config, launcher, launcher_options)
    summary = run_cv(
        resolved,
        folds,
        stratified,
        same_model,
        str(sc_ckpt) if sc_ckpt else None,
        tuple(seeds) if seeds else None,
        chosen,
    )
    if "per_seed" not in summary:
        return _cross_validation(cv_directory(resolved, folds, stratified), summary)
    seeded = [_cross_validation(Path(s["directory"]), s) for s in summary["per_seed"]]
    return CrossValidation(
        Path(summary["directory"]),
        summary["model"],
        summary["dataset"],
        [],
        summary["mean"],
        summary["std"],
        seeded,
    )


def _cross_validation(directory: Path, summary: dict[str, Any]) -> CrossValidation:
    return CrossValidation(
        directory,
        summary["model"],
        summary["dataset"],
        [Fold(r["fold"], Path(r["run"]), r["val"]) for r in summary["per_fold"]],
        summary["mean"],
        summary["std"],
    )


def _launcher(config: str | Path | None, name: str | None, options: dict[str, Any] | None) -> Any:
    """The launcher asked for: the arguments over the config file's ``[launcher]`` table."""
    from gvetool.config.toml_files import launcher_table
    from gvetool.workflows.fanout import launcher_named

    table = launcher_table(Path(config) if config else None)
    chosen = name or table.pop("name", None)
    table.pop("name", None)
    return launcher_named(chosen, {**table, **(options or {})})


@quiet_unless_asked
def reproduce(
    dataset: str,
    *,
    models: list[str] | tuple[str, ...] | None = None,
    metrics: str | Sequence[str] | None = None,
    config: str | Path | None = None,
    seeds: Sequence[int] | None = None,
    launcher: str | None = None,
    launcher_options: dict[str, Any] | None = None,
    **options: Any,
) -> Reproduction:
    """The sentence classifier and the paper's ablations trained and evaluated, as
    ``gvetool reproduce``, with the metric plugins ``metrics`` (default: every one
    registered for evaluation; the table has their table columns); a rerun skips
    finished runs. ``seeds``, ``launcher``, ``launcher_options``: as for
    :func:`cross_validate`; over several seeds the rows hold means and deviations."""
    from gvetool.evaluation.scoring import parse_names
    from gvetool.workflows.reproduction import reproduce as run_reproduce
    from gvetool.workflows.reproduction import reproduce_directory

    names = None if metrics is None else parse_names(metrics)
    resolved = resolve_options(None, config, {**options, "dataset": dataset})
    chosen = _launcher(config, launcher, launcher_options)
    repeats = tuple(seeds) if seeds else None
    table = run_reproduce(resolved, tuple(models) if models else None, names, repeats, chosen)
    if "seeds" in table:
        return Reproduction(
            reproduce_directory(resolved, tuple(table["seeds"])),
            table["dataset"],
            None,
            table["rows"],
        )
    return Reproduction(
        reproduce_directory(resolved),
        table["dataset"],
        Path(table["sentence_classifier"]),
        table["rows"],
    )


@quiet_unless_asked
def run_demo(out: str | Path = "gvetool-demo", *, quick: bool = False, threads: int = 1) -> Path:
    """The whole pipeline on the embedded birds (``gvetool demo``); returns the report."""
    from gvetool.workflows.demo import run_demo as run_pipeline

    report, _ = run_pipeline(Path(out), quick, threads)
    return report
