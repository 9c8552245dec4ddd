"""Cross-validation: one run per fold, from fresh weights, resumable, summarised.

Each fold is a view of the dataset (``gvetool.data.folds``) trained like any run, in
``<out>/cv-<model>-<dataset>-<K>fold[-stratified]-seed<S>/fold<k>/``. For GVE every fold
also trains its own sentence classifier on that fold's training images, so no validation
image ever shaped the reward. Rerunning the same command skips finished folds and resumes
an unfinished one. ``--same-model`` (the original script's behaviour) instead carries the
weights from fold to fold, which leaks validation data; it is allowed, with a warning.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from gvetool import console
from gvetool.config import TrainConfig
from gvetool.data.folds import fold_indices
from gvetool.data.open import open_configured
from gvetool.engine.checkpoint import load_checkpoint
from gvetool.engine.resumable import best_validation, train_or_resume
from gvetool.evaluation.evaluate import evaluate
from gvetool.evaluation.scoring import metric_spec, metric_specs
from gvetool.io import write_json
from gvetool.plugins import get_plugins
from gvetool.resolution import for_model


def cv_directory(config: TrainConfig, folds: int, stratified: bool) -> Path:
    kind = f"{folds}fold" + ("-stratified" if stratified else "")
    return Path(config.out) / f"cv-{config.model}-{config.dataset}-{kind}-seed{config.seed}"


def cross_validate(
    config: TrainConfig,
    folds: int,
    stratified: bool = False,
    same_model: bool = False,
    sc_ckpt: str | None = None,
) -> dict[str, Any]:
    """Train ``config`` on every fold; returns (and writes as ``cv.json``) the summary."""
    base = dataclasses.replace(config, folds=0)
    corpus = open_configured(base)
    fold_indices(corpus.split("train"), folds, config.seed, stratified, corpus.class_names)
    spec = get_plugins().models.get(config.model)
    if same_model:
        console.warn(
            "--same-model carries weights from fold to fold: each fold's validation images "
            "trained an earlier fold's model, so validation leaks and the scores are optimistic"
        )
    if sc_ckpt and spec.reward_model is not None:
        trained_on = load_checkpoint(Path(sc_ckpt), spec.reward_model)["config"]
        if not trained_on.get("folds"):
            console.warn(
                f"--sc-ckpt {sc_ckpt} was trained on all training images, including every "
                "fold's validation images; its reward has seen them"
            )
    directory = cv_directory(config, folds, stratified)
    results, previous_best = [], None
    for fold in range(folds):
        fold_config = dataclasses.replace(
            config,
            folds=folds,
            fold=fold,
            fold_seed=config.seed,
            stratified=stratified,
            out=str(directory / f"fold{fold + 1}"),
            init_from=str(previous_best) if same_model and previous_best else None,
        )
        console.err().print(f"[bold]fold {fold + 1}/{folds}[/bold]")
        if spec.reward_model is not None:
            classifier = sc_ckpt
            if classifier is None:  # the fold's own classifier, from its training images
                sc_config = for_model(fold_config, spec.reward_model, shared=True)
                classifier = str(
                    train_or_resume(dataclasses.replace(sc_config, init_from=None), "fold")
                    / "best.pt"
                )
            fold_config = dataclasses.replace(fold_config, sc_ckpt=classifier)
        run = train_or_resume(fold_config, "fold")
        previous_best = run / "best.pt"
        val = best_validation(run)
        if corpus.has_classes and spec.task.generates:
            val.update(_class_relevance(run, fold_config.sc_ckpt))
        results.append({"fold": fold + 1, "run": str(run), "val": val})
    summary = _summarise(config, folds, stratified, same_model, results)
    write_json(directory / "cv.json", summary, indent=2)
    _print(summary, directory)
    return summary


def _class_relevance(run: Path, sc_ckpt: str | None) -> dict[str, float]:
    """The fold's best captioner on its validation images: the evaluation metrics that
    validation during training cannot compute (class relevance, the independent judge,
    explanation accuracy: they need the training captions or the classifier)."""
    metrics = tuple(s.name for s in metric_specs() if s.evaluation and not s.validates_each_epoch)
    evaluation = evaluate(run / "best.pt", "val", metrics=metrics,
                          sc_ckpt=Path(sc_ckpt) if sc_ckpt else None)  # fmt: skip
    keys = {key for name in metrics for key in metric_spec(name).keys}
    return {k: float(v) for k, v in evaluation.metrics.items() if k in keys}


def _summarise(
    config: TrainConfig,
    folds: int,
    stratified: bool,
    same_model: bool,
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    metrics = list(results[0]["val"])
    table = {m: np.array([r["val"][m] for r in results], dtype=np.float64) for m in metrics}
    return {
        "model": config.model,
        "dataset": config.dataset,
        "folds": folds,
        "stratified": stratified,
        "same_model": same_model,
        "seed": config.seed,
        "per_fold": results,
        "mean": {m: float(v.mean()) for m, v in table.items()},
        "std": {m: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for m, v in table.items()},
    }


def _print(summary: dict[str, Any], directory: Path) -> None:
    title = f"{summary['model']} on {summary['dataset']}: {summary['folds']}-fold cross-validation"
    table = Table(title=title)
    table.add_column("metric")
    for result in summary["per_fold"]:
        table.add_column(f"fold {result['fold']}", justify="right")
    table.add_column("mean ± std", justify="right")
    for metric, mean in summary["mean"].items():
        values = [f"{r['val'][metric]:.3f}" for r in summary["per_fold"]]
        table.add_row(metric, *values, f"{mean:.3f} ± {summary['std'][metric]:.3f}")
    console.out().print(table)
    console.out().print(f"cv.json and the fold runs: {directory}", highlight=False)
