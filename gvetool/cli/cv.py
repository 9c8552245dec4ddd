"""``gvetool cv``: k-fold cross-validation over images."""

from __future__ import annotations

from pathlib import Path

import typer

from gvetool.cli.model_option import FLAG as MODEL_OPTION_FLAG
from gvetool.cli.model_option import given as model_options_given


def cv(
    model: str = typer.Option(..., help="Model to cross-validate: lrcn, gve or sc."),
    dataset: str = typer.Option(..., help="Dataset, e.g. cub1."),
    folds: int = typer.Option(3, help="Number of folds (>= 2)."),
    stratified: bool = typer.Option(False, "--stratified", help="Folds keep class proportions."),
    same_model: bool = typer.Option(
        False, "--same-model", help="Carry weights across folds (leaks validation; warned)."
    ),
    seed: int | None = typer.Option(None, help="Seed for folds and training [0]."),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: its home)."),
    class_split: str | None = typer.Option(None, help="One part of a class split: FILE:1|2."),
    config: Path | None = typer.Option(None, help="TOML file with training options."),
    epochs: int | None = typer.Option(None, help="Epochs per fold [50]."),
    batch_size: int | None = typer.Option(None, help="Captions per step [128]."),
    lr: float | None = typer.Option(None, help="Adam learning rate [1e-3]."),
    hidden_size: int | None = typer.Option(None, help="LSTM hidden size [1000]."),
    embedding_size: int | None = typer.Option(None, help="Word/image embedding size [1000]."),
    val_metrics: str | None = typer.Option(None, help="Validation metrics, comma-separated."),
    device: str | None = typer.Option(None, help="cpu, cuda or cuda:N [cpu]."),
    precision: str | None = typer.Option(
        None, help="Training matrix products: fp32 or bf16 (autocast; for GPUs) [fp32]."
    ),
    out: Path | None = typer.Option(None, help="Where the cv directory goes [runs]."),
    model_option: list[str] | None = MODEL_OPTION_FLAG,
    sc_ckpt: Path | None = typer.Option(
        None, help="gve: one fixed sentence classifier (default: one trained per fold)."
    ),
) -> None:
    """Cross-validate over images (all captions of an image in one fold): one run per fold
    from fresh weights, per-fold metrics and mean ± std in cv.json; rerun to resume."""
    from gvetool.config import resolve
    from gvetool.cv import cross_validate

    given = {
        "model": model, "dataset": dataset, "seed": seed, "data_root": data_root,
        "class_split": class_split, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "hidden_size": hidden_size, "embedding_size": embedding_size,
        "val_metrics": val_metrics, "device": device, "precision": precision, "out": out,
    }  # fmt: skip
    given["model_options"] = model_options_given(model_option)
    given = {k: str(v) if isinstance(v, Path) else v for k, v in given.items()}
    resolved = resolve(config, given)
    cross_validate(resolved, folds, stratified, same_model, str(sc_ckpt) if sc_ckpt else None)
