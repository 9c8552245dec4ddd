"""``gvetool train``: train a model; ``--resume RUN_DIR`` continues an interrupted run."""

from __future__ import annotations

from pathlib import Path

import typer

from gvetool import console
from gvetool.cli.model_option import FLAG as MODEL_OPTION_FLAG
from gvetool.cli.model_option import given as model_options_given
from gvetool.errors import GvetoolError

RESUMABLE_CHANGES = (
    "epochs",
    "device",
    "precision",
    "num_workers",
    "checkpoint_every",
    "threads",
    "reinforce_tokens",
)


def train(
    model: str | None = typer.Argument(
        None, help="Model to train: lrcn, gve, sc or another model `gvetool plugins` lists."
    ),
    dataset: str | None = typer.Option(None, help="Dataset name, e.g. cub or synth."),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: its home)."),
    class_split: str | None = typer.Option(
        None, help="Train on one part of a class split: FILE:1 or FILE:2."
    ),
    config: Path | None = typer.Option(None, help="TOML file with any of these options."),
    epochs: int | None = typer.Option(None, help="Passes over the training captions [50]."),
    batch_size: int | None = typer.Option(None, help="Captions per step [128]."),
    lr: float | None = typer.Option(None, help="Adam learning rate [1e-3]."),
    hidden_size: int | None = typer.Option(None, help="LSTM hidden size [1000]."),
    embedding_size: int | None = typer.Option(None, help="Word/image embedding size [1000]."),
    dropout: float | None = typer.Option(None, help="Dropout probability [0.5]."),
    seed: int | None = typer.Option(None, help="Random seed: same seed, same weights [0]."),
    device: str | None = typer.Option(None, help="cpu, cuda or cuda:N [cpu]."),
    precision: str | None = typer.Option(
        None, help="Training matrix products: fp32 or bf16 (autocast; for GPUs) [fp32]."
    ),
    num_workers: int | None = typer.Option(None, help="Data-loading processes [0]."),
    out: Path | None = typer.Option(None, help="Where run directories go [runs]."),
    encoder: str | None = typer.Option(None, help="Image features: precomputed or a CNN."),
    encoder_weights: str | None = typer.Option(
        None, help="CNN encoder weights: imagenet (default), none or a state-dict path."
    ),
    sc_ckpt: Path | None = typer.Option(
        None, help="gve: sentence classifier checkpoint (default: newest sc run)."
    ),
    reinforce_weight: float | None = typer.Option(None, help="gve: lambda of REINFORCE [0.2]."),
    baseline: str | None = typer.Option(None, help="gve: reward baseline none|mean|greedy."),
    reinforce_tokens: int | None = typer.Option(
        None,
        help="gve: sampled tokens per REINFORCE backward pass; bounds memory; 0: all "
        "[1024 on a CPU, all on CUDA].",
    ),
    val_metrics: str | None = typer.Option(None, help="Validation metrics, comma-separated."),
    checkpoint_every: int | None = typer.Option(None, help="Also save last.pt every N steps."),
    model_option: list[str] | None = MODEL_OPTION_FLAG,
    resume: Path | None = typer.Option(None, help="Continue the run in this directory."),
) -> None:
    """Train LRCN, GVE, the sentence classifier or the paper's ablations; best.pt is kept by
    validation CIDEr (else the first --val-metrics given; accuracy for sc) and every run can
    be resumed exactly."""
    from gvetool.config import resolve
    from gvetool.engine.checkpoint import load_checkpoint
    from gvetool.engine.distributed import Distributed
    from gvetool.engine.trainer import train as run_training

    given = {
        "dataset": dataset, "data_root": data_root, "class_split": class_split,
        "epochs": epochs, "batch_size": batch_size,
        "lr": lr, "hidden_size": hidden_size, "embedding_size": embedding_size,
        "dropout": dropout, "seed": seed, "device": device,
        "precision": precision, "num_workers": num_workers,
        "out": out, "encoder": encoder, "encoder_weights": encoder_weights, "sc_ckpt": sc_ckpt,
        "reinforce_weight": reinforce_weight, "reinforce_tokens": reinforce_tokens,
        "baseline": baseline, "val_metrics": val_metrics, "checkpoint_every": checkpoint_every,
    }  # fmt: skip
    given["model_options"] = model_options_given(model_option)
    given = {k: str(v) if isinstance(v, Path) else v for k, v in given.items() if v is not None}
    if resume is not None:
        if not (resume / "last.pt").is_file():
            raise GvetoolError(f"no checkpoint to resume in {resume} (last.pt is missing)")
        frozen = sorted(set(given) - set(RESUMABLE_CHANGES)) + (["config"] if config else [])
        if frozen:
            flag = "model-option" if frozen[0] == "model_options" else frozen[0].replace("_", "-")
            raise GvetoolError(
                f"--{flag} cannot change when resuming; only "
                + ", ".join(f"--{k.replace('_', '-')}" for k in RESUMABLE_CHANGES)
                + " can"
            )
        saved = load_checkpoint(resume / "last.pt", expect_model=model)
        resolved = resolve(None, {**saved["config"], **given})
    else:
        if model is None:
            raise GvetoolError("name a model to train (lrcn, gve, sc) or pass --resume RUN_DIR")
        resolved = resolve(config, {**given, "model": model})
        if not resolved.dataset:
            raise GvetoolError("--dataset is required (or set dataset in the config file)")
    run_dir = run_training(resolved, resume)
    if Distributed.from_env().is_main:  # under torchrun, rank 0 speaks for the run
        console.out().print(saved_line(run_dir))


def saved_line(run_dir: Path) -> str:
    """The closing line, naming only the files that exist (no best.pt: says why)."""
    files = [f for f in ("best.pt", "last.pt", "metrics.jsonl") if (run_dir / f).is_file()]
    line = f"run saved in {run_dir} ({', '.join(files)})"
    if "best.pt" not in files:
        line += "; no best.pt: no validation score was ever computed (see the warnings above)"
    return line
