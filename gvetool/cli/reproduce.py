"""``gvetool reproduce``: the GVE paper's ablation table in one command."""

from __future__ import annotations

from pathlib import Path

import typer


def reproduce(
    dataset: str = typer.Option(..., help="Dataset with classes, e.g. cub or synth."),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: its home)."),
    models: str | None = typer.Option(
        None, help="Only these, comma-separated (default: all five ablations)."
    ),
    config: Path | None = typer.Option(None, help="TOML file with training options."),
    epochs: int | None = typer.Option(None, help="Epochs per model [50]."),
    batch_size: int | None = typer.Option(None, help="Captions per step [128]."),
    lr: float | None = typer.Option(None, help="Adam learning rate [1e-3]."),
    hidden_size: int | None = typer.Option(None, help="LSTM hidden size [1000]."),
    embedding_size: int | None = typer.Option(None, help="Word embedding size [1000]."),
    seed: int | None = typer.Option(None, help="Random seed of every run [0]."),
    device: str | None = typer.Option(None, help="cpu, cuda or cuda:N [cpu]."),
    precision: str | None = typer.Option(
        None, help="Training matrix products: fp32 or bf16 (autocast; for GPUs) [fp32]."
    ),
    out: Path | None = typer.Option(None, help="Where the reproduce directory goes [runs]."),
    sc_ckpt: Path | None = typer.Option(
        None, help="Use this sentence classifier (default: train one first)."
    ),
) -> None:
    """Train the sentence classifier and the paper's five models (description, definition,
    explanation-label, explanation-discriminative, explanation), evaluate them on the test
    split and write the paper-style table; rerun to resume."""
    from gvetool.config import resolve
    from gvetool.reproduce import reproduce as run_reproduce

    given = {
        "dataset": dataset, "data_root": data_root, "epochs": epochs,
        "batch_size": batch_size, "lr": lr, "hidden_size": hidden_size,
        "embedding_size": embedding_size, "seed": seed, "device": device,
        "precision": precision, "out": out,
        "sc_ckpt": sc_ckpt,
    }  # fmt: skip
    given = {k: str(v) if isinstance(v, Path) else v for k, v in given.items()}
    chosen = tuple(m.strip() for m in models.split(",") if m.strip()) if models else None
    run_reproduce(resolve(config, given), chosen)
