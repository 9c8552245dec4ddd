"""``gvetool cv``: k-fold cross-validation over images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gvetool.cli.config_options import config_options
from gvetool.cli.launching import launcher_options
from gvetool.cli.model_option import FLAG as MODEL_OPTION_FLAG
from gvetool.cli.model_option import given as model_options_given
from gvetool.cli.train import TRAIN_KEYS


@config_options(
    *(key for key in TRAIN_KEYS if key != "sc_ckpt"), required=("dataset",), model_options=True
)
@launcher_options
def cv(
    given: dict[str, Any],
    launching: dict[str, Any],
    model: str = typer.Option(..., help="Model to cross-validate: lrcn, gve or sc."),
    folds: int = typer.Option(3, help="Number of folds (>= 2)."),
    stratified: bool = typer.Option(False, "--stratified", help="Folds keep class proportions."),
    same_model: bool = typer.Option(
        False, "--same-model", help="Carry weights across folds (leaks validation; warned)."
    ),
    config: Path | None = typer.Option(None, help="TOML file with training options."),
    model_option: list[str] | None = MODEL_OPTION_FLAG,
    sc_ckpt: Path | None = typer.Option(
        None, help="gve: one fixed sentence classifier (default: one trained per fold)."
    ),
) -> None:
    """Cross-validate over images (all captions of an image in one fold): one run per fold
    from fresh weights, per-fold metrics and mean ± std in cv.json; rerun to resume (a
    failed fold is retried, finished ones are kept). --launcher local runs folds in
    parallel, --seeds repeats it all per seed."""
    from gvetool.user_api.experiments import cross_validate

    given.update(model_options_given(model_option))
    cross_validate(
        model,
        folds=folds,
        stratified=stratified,
        same_model=same_model,
        sc_ckpt=sc_ckpt,
        config=config,
        progress=True,
        **launching,
        **given,
    )
