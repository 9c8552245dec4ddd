"""``gvetool transfer``: continue a trained captioner on other classes or another dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gvetool.cli.config_options import config_options
from gvetool.utils import console


@config_options(
    "data_root",
    "class_split",
    "sc_ckpt",
    "epochs",
    "lr",
    "batch_size",
    "seed",
    "val_metrics",
    "device",
    "precision",
    "cuda_graph",
    "num_workers",
    "checkpoint_every",
    "out",
    "tracker",
    unset="as the source",
)
def transfer(
    given: dict[str, Any],
    source: Path = typer.Argument(..., help="The lrcn/gve checkpoint (or run dir) to start from."),
    dataset: str = typer.Option(..., help="Target dataset, e.g. cub2."),
    freeze: str = typer.Option(
        "none",
        help="Keep this parameter group frozen; each model names its own (lrcn/gve: none | "
        "embeddings | lstm | all-but-output, the original's; transformer: decoder for lstm).",
    ),
    vocab: str = typer.Option(
        "source", help="source: keep its words (new ones -> <unk>); extend: add the new words."
    ),
) -> None:
    """Train a captioner that starts from another one's weights: class inputs re-initialised
    for the target's classes, vocabulary kept or extended, the target's classifier as reward."""
    from gvetool.cli.train import saved_line
    from gvetool.engine.distributed import Distributed
    from gvetool.user_api.training import transfer as transfer_run

    run = transfer_run(source, dataset=dataset, freeze=freeze, vocab=vocab, progress=True, **given)
    if Distributed.from_env().is_main:  # under torchrun, rank 0 speaks for the run
        console.out().print(saved_line(run.directory))
