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

from gvetool.config.resolution import for_model
from gvetool.config.schema import TrainConfig
from gvetool.config.toml_files import load_saved
from gvetool.data.folds import fold_indices
from gvetool.data.open import open_configured
from gvetool.engine.checkpoint import load_checkpoint
from gvetool.engine.resumable import best_validation
from gvetool.evaluation.evaluate import evaluate
from gvetool.evaluation.scoring import metric_spec, metric_specs
from gvetool.kernel.manager import get_plugins
from gvetool.utils import console
from gvetool.utils.files import write_json
from gvetool.workflows.fanout import launcher_named, run_jobs, seeds_named, unfinished_error
from gvetool.workflows.jobs import FINISHED, Job, JobOutcome


def cv_directory(
    config: TrainConfig, folds: int, stratified: bool, seeds: tuple[int, ...] | None = None
) -> Path:
    """A seed's cross-validation folder, or with ``seeds`` the summary's over them."""
    kind = f"{folds}fold" + ("-stratified" if stratified else "")
    return Path(config.out) / (
        f"cv-{config.model}-{config.dataset}-{kind}-{seeds_named(config.seed, seeds)}"
    )


def cross_validate(
    config: TrainConfig,
    folds: int,
    stratified: bool = False,
    same_model: bool = False,
    sc_ckpt: str | None = None,
    seeds: tuple[int, ...] | None = None,
    launcher: Any = None,
) -> dict[str, Any]:
    """Train ``config`` on every fold, once per seed (default: the config's), the runs
    through ``launcher`` (default: sequential); returns (and writes as ``cv.json``) the
    summary, over seeds the seeds' means summarised again."""
    base = dataclasses.replace(config, folds=0)
    corpus = open_configured(base)
    seeds = seeds or (config.seed,)
    for seed in seeds:
        fold_indices(corpus.split("train"), folds, seed, stratified, corpus.class_names)
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
    seeded = [dataclasses.replace(config, seed=seed) for seed in seeds]
    plans = [_plan(c, folds, stratified, same_model, sc_ckpt, len(seeds) > 1) for c in seeded]
    outcomes = run_jobs(
        [job for jobs, _ in plans for job in jobs], launcher or launcher_named(None)
    )
    summaries = []
    relevance = corpus.has_classes and spec.task.generates
    for seed_config, (_, fold_jobs) in zip(seeded, plans, strict=True):
        results = [
            _fold_result(fold, job, outcomes[job.name], relevance)
            for fold, job in enumerate(fold_jobs)
        ]
        summary = _summarise(seed_config, folds, stratified, same_model, results)
        directory = cv_directory(seed_config, folds, stratified)
        summary["directory"] = str(directory)
        write_json(directory / "cv.json", summary, indent=2)
        _print(summary, directory)
        summaries.append(summary)
    summary = (
        summaries[0]
        if len(seeds) == 1
        else _over_seeds(config, folds, stratified, seeds, summaries)
    )
    unfinished = unfinished_error(outcomes)
    if unfinished is not None:
        raise unfinished
    return summary


def _plan(
    config: TrainConfig,
    folds: int,
    stratified: bool,
    same_model: bool,
    sc_ckpt: str | None,
    named_by_seed: bool,
) -> tuple[list[Job], list[Job]]:
    """One seed's jobs, and of them the folds' own runs in fold order: per fold, its own
    sentence classifier where the model needs one (unless ``sc_ckpt`` is given), then the
    fold's run (after the previous fold's under ``same_model``, whose ``best.pt`` it
    starts from)."""
    directory = cv_directory(config, folds, stratified)
    spec = get_plugins().models.get(config.model)
    prefix = f"seed{config.seed}/" if named_by_seed else ""
    jobs: list[Job] = []
    fold_jobs: list[Job] = []
    for fold in range(folds):
        fold_config = dataclasses.replace(
            config,
            folds=folds,
            fold=fold,
            fold_seed=config.seed,
            stratified=stratified,
            out=str(directory / f"fold{fold + 1}"),
            init_from=None,
            sc_ckpt=sc_ckpt,
        )
        inputs: dict[str, str] = {}
        if spec.reward_model is not None and sc_ckpt is None:
            sc_config = for_model(fold_config, spec.reward_model, shared=True)
            classifier = Job(
                f"{prefix}fold{fold + 1}/sc",
                f"fold {fold + 1} classifier",
                dataclasses.replace(sc_config, init_from=None),
                directory,
            )
            jobs.append(classifier)
            inputs["sc_ckpt"] = classifier.name
        if same_model and fold_jobs:
            inputs["init_from"] = fold_jobs[-1].name
        fold_jobs.append(
            Job(
                f"{prefix}fold{fold + 1}",
                f"fold {fold + 1}/{folds}",
                fold_config,
                directory,
                inputs,
            )
        )
        jobs.append(fold_jobs[-1])
    return jobs, fold_jobs


def _fold_result(fold: int, job: Job, outcome: JobOutcome, relevance: bool) -> dict[str, Any]:
    run = job.run_dir() if outcome.ok else None
    if run is None:
        return {
            "fold": fold + 1,
            "status": outcome.status,
            "detail": outcome.detail,
            "log": str(outcome.log) if outcome.log else None,
        }
    val = best_validation(run)
    if relevance:
        sc = load_saved(run / "config.toml").sc_ckpt
        val.update(_class_relevance(run, sc))
    return {"fold": fold + 1, "status": FINISHED, "run": str(run), "val": val}


def _class_relevance(run: Path, sc_ckpt: str | None) -> dict[str, float]:
    """The fold's best captioner on its validation images: the evaluation metrics that
    validation during training cannot compute (class relevance, the independent judge,
    explanation accuracy: they need the training captions or the classifier)."""
    metrics = tuple(s.name for s in metric_specs() if s.evaluation and not s.validates_each_epoch)
    evaluation = evaluate(
        run / "best.pt", "val", metrics=metrics, sc_ckpt=Path(sc_ckpt) if sc_ckpt else None
    )
    keys = {key for name in metrics for key in metric_spec(name).keys}
    return {k: float(v) for k, v in evaluation.metrics.items() if k in keys}


def _summarise(
    config: TrainConfig,
    folds: int,
    stratified: bool,
    same_model: bool,
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    """Means and standard deviations (``ddof=1``) over the folds that finished."""
    done = [r for r in results if r["status"] == FINISHED]
    metrics = list(done[0]["val"]) if done else []
    table = {m: np.array([r["val"][m] for r in done], dtype=np.float64) for m in metrics}
    return {
        "model": config.model,
        "dataset": config.dataset,
        "folds": folds,
        "stratified": stratified,
        "same_model": same_model,
        "seed": config.seed,
        "per_fold": results,
        **_mean_and_std(table),
    }


def _mean_and_std(table: dict[str, np.ndarray]) -> dict[str, dict[str, float | None]]:
    """Each metric's mean and standard deviation (``ddof=1``; ``None`` for a single value,
    whose spread was not measured)."""
    return {
        "mean": {m: float(v.mean()) for m, v in table.items()},
        "std": {m: float(v.std(ddof=1)) if len(v) > 1 else None for m, v in table.items()},
    }


def _over_seeds(
    config: TrainConfig,
    folds: int,
    stratified: bool,
    seeds: tuple[int, ...],
    summaries: list[dict[str, Any]],
) -> dict[str, Any]:
    """The seeds' cross-validation means, summarised again: mean and standard deviation
    over the seeds whose folds all finished."""
    complete = [s for s in summaries if all(r["status"] == FINISHED for r in s["per_fold"])]
    metrics = list(complete[0]["mean"]) if complete else []
    table = {m: np.array([s["mean"][m] for s in complete], dtype=np.float64) for m in metrics}
    summary = {
        "model": config.model,
        "dataset": config.dataset,
        "folds": folds,
        "stratified": stratified,
        "seeds": list(seeds),
        "complete_seeds": [s["seed"] for s in complete],
        "per_seed": summaries,
        **_mean_and_std(table),
    }
    directory = cv_directory(config, folds, stratified, seeds)
    summary["directory"] = str(directory)
    write_json(directory / "cv.json", summary, indent=2)
    _print_seeds(summary, directory)
    return summary


def _print(summary: dict[str, Any], directory: Path) -> None:
    title = f"{summary['model']} on {summary['dataset']}: {summary['folds']}-fold cross-validation"
    table = Table(title=f"{title} (seed {summary['seed']})")
    table.add_column("metric")
    for result in summary["per_fold"]:
        status = "" if result["status"] == FINISHED else f" ({result['status']})"
        table.add_column(f"fold {result['fold']}{status}", justify="right")
    table.add_column("mean ± std", justify="right")
    for metric, mean in summary["mean"].items():
        values = [
            f"{r['val'][metric]:.3f}" if r["status"] == FINISHED else "-"
            for r in summary["per_fold"]
        ]
        table.add_row(metric, *values, console.mean_and_spread(mean, summary["std"][metric]))
    console.out().print(table)
    for result in summary["per_fold"]:
        if result["status"] != FINISHED:
            log = f"; log {result['log']}" if result["log"] else ""
            console.warn(f"fold {result['fold']}: {result['status']} ({result['detail']}){log}")
    console.out().print(f"cv.json and the fold runs: {directory}", highlight=False)


def _print_seeds(summary: dict[str, Any], directory: Path) -> None:
    seeds = ", ".join(map(str, summary["complete_seeds"])) or "none"
    title = (
        f"{summary['model']} on {summary['dataset']}: {summary['folds']}-fold "
        f"cross-validation over seeds {seeds}"
    )
    table = Table(title=title)
    table.add_column("metric")
    for entry in summary["per_seed"]:
        table.add_column(f"seed {entry['seed']}", justify="right")
    table.add_column("mean ± std", justify="right")
    for metric, mean in summary["mean"].items():
        values = [
            f"{e['mean'][metric]:.3f}" if metric in e["mean"] else "-" for e in summary["per_seed"]
        ]
        table.add_row(metric, *values, console.mean_and_spread(mean, summary["std"][metric]))
    console.out().print(table)
    console.out().print(f"cv.json: {directory}", highlight=False)
