"""``gvetool train``: train a model; ``--resume RUN_DIR`` continues an interrupted run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gvetool.cli.config_options import COMPLETIONS, config_options
from gvetool.cli.model_option import FLAG as MODEL_OPTION_FLAG
from gvetool.cli.model_option import given as model_options_given
from gvetool.utils import console

TRAIN_KEYS = (
    "dataset",
    "data_root",
    "class_split",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "grad_clip",
    "hidden_size",
    "embedding_size",
    "dropout",
    "min_count",
    "max_caption_len",
    "max_len",
    "seed",
    "device",
    "precision",
    "cuda_graph",
    "num_workers",
    "threads",
    "out",
    "cache_dir",
    "encoder",
    "encoder_weights",
    "encoder_remove_last",
    "sc_ckpt",
    "val_metrics",
    "checkpoint_every",
    "tracker",
)


@config_options(*TRAIN_KEYS, model_options=True)
def train(
    given: dict[str, Any],
    model: str | None = typer.Argument(
        None,
        help="Model to train: lrcn, gve, sc or another model `gvetool plugins` lists.",
        autocompletion=COMPLETIONS["model"],
    ),
    config: Path | None = typer.Option(None, help="TOML file with any of these options."),
    model_option: list[str] | None = MODEL_OPTION_FLAG,
    resume: Path | None = typer.Option(None, help="Continue the run in this directory."),
) -> None:
    """Train LRCN, GVE, the sentence classifier or the paper's ablations; best.pt is kept by
    validation CIDEr (else the first --val-metrics given; accuracy for sc) and every run can
    be resumed exactly."""
    from gvetool.engine.distributed import Distributed
    from gvetool.user_api.training import train as train_run

    given.update(model_options_given(model_option))
    run = train_run(model, config=config, resume=resume, progress=True, **given)
    if Distributed.from_env().is_main:  # under torchrun, rank 0 speaks for the run
        console.out().print(saved_line(run.directory))


def saved_line(run_dir: Path) -> str:
    """The closing line, naming only the files that exist (no best.pt: says why)."""
    files = [f for f in ("best.pt", "last.pt", "metrics.jsonl") if (run_dir / f).is_file()]
    line = f"run saved in {run_dir} ({', '.join(files)})"
    if "best.pt" not in files:
        line += "; no best.pt: no validation score was ever computed (see the warnings above)"
    return line
