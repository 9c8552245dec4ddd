"""``gvetool transfer``: continue a trained captioner on other classes or another dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from gvetool import console


def transfer(
    source: Path = typer.Argument(..., help="The lrcn/gve checkpoint (or run dir) to start from."),
    dataset: str = typer.Option(..., help="Target dataset, e.g. cub2."),
    data_root: Path | None = typer.Option(None, help="Target dataset folder (default: its home)."),
    class_split: str | None = typer.Option(None, help="Target part of a class split: FILE:1|2."),
    sc_ckpt: Path | None = typer.Option(
        None, help="gve: the target's sentence classifier (default: newest matching sc run)."
    ),
    freeze: str = typer.Option(
        "none", help="Keep frozen: none | embeddings | lstm | all-but-output (the original's)."
    ),
    vocab: str = typer.Option(
        "source", help="source: keep its words (new ones -> <unk>); extend: add the new words."
    ),
    epochs: int | None = typer.Option(None, help="Epochs on the target [as the source]."),
    lr: float | None = typer.Option(None, help="Adam learning rate [as the source]."),
    batch_size: int | None = typer.Option(None, help="Captions per step [as the source]."),
    seed: int | None = typer.Option(None, help="Random seed [as the source]."),
    val_metrics: str | None = typer.Option(None, help="Validation metrics, comma-separated."),
    device: str | None = typer.Option(None, help="cpu, cuda or cuda:N."),
    out: Path = typer.Option(Path("runs"), help="Where the run directory goes."),
) -> None:
    """Train a captioner that starts from another one's weights: class inputs re-initialised
    for the target's classes, vocabulary kept or extended, the target's classifier as reward."""
    from gvetool.cli.train import saved_line
    from gvetool.config import resolve
    from gvetool.engine.checkpoint import load_checkpoint
    from gvetool.engine.distributed import Distributed
    from gvetool.engine.trainer import train

    path = source / "best.pt" if source.is_dir() else source
    saved = load_checkpoint(path)["config"]
    inherited = {key: value for key, value in saved.items() if key not in RESET}
    given = {
        "dataset": dataset, "data_root": data_root, "class_split": class_split,
        "sc_ckpt": sc_ckpt, "freeze": freeze, "vocab_mode": vocab, "epochs": epochs, "lr": lr,
        "batch_size": batch_size, "seed": seed, "val_metrics": val_metrics, "device": device,
        "out": out, "transfer_from": path,
    }  # fmt: skip
    given = {k: str(v) if isinstance(v, Path) else v for k, v in given.items() if v is not None}
    run_dir = train(resolve(None, {**inherited, **given}))
    if Distributed.from_env().is_main:  # under torchrun, rank 0 speaks for the run
        console.out().print(saved_line(run_dir))


# Source settings that describe where the source was trained, not how: never inherited.
RESET = ("dataset", "data_root", "class_split", "sc_ckpt", "folds", "fold", "fold_seed",
         "stratified", "init_from", "transfer_from", "out", "cache_dir")  # fmt: skip
