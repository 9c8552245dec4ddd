"""``gvetool reproduce``: the GVE paper's ablation table in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gvetool.cli.config_options import COMPLETIONS, config_options
from gvetool.cli.launching import launcher_options
from gvetool.cli.train import TRAIN_KEYS


@config_options(*(key for key in TRAIN_KEYS if key != "dataset"), model_options=True)
@launcher_options
def reproduce(
    given: dict[str, Any],
    launching: dict[str, Any],
    dataset: str = typer.Option(..., help="Dataset with classes, e.g. cub or synth."),
    models: str | None = typer.Option(
        None, help="Only these, comma-separated (default: all five ablations)."
    ),
    metrics: str | None = typer.Option(
        None,
        autocompletion=COMPLETIONS["val_metrics"],
        help="Metric plugins evaluated, comma-separated; the table has their columns "
        "(default: every one registered for evaluation).",
    ),
    config: Path | None = typer.Option(None, help="TOML file with training options."),
) -> None:
    """Train the sentence classifier and the paper's five models (description, definition,
    explanation-label, explanation-discriminative, explanation), evaluate them on the test
    split and write the paper-style table; rerun to resume (a failed run is retried,
    finished ones are kept). --launcher local trains in parallel, --seeds repeats it all
    per seed with a mean ± std table."""
    from gvetool.config.schema import names_in
    from gvetool.user_api.experiments import reproduce as run_reproduce

    chosen = names_in(models) if models else None
    run_reproduce(
        dataset, models=chosen, metrics=metrics, config=config, progress=True, **launching, **given
    )
