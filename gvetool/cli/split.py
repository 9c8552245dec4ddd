"""``gvetool split``: reproducible partitions of a dataset's classes."""

from __future__ import annotations

from pathlib import Path

import typer

from gvetool.utils import console

app = typer.Typer(no_args_is_help=True, help="Split a dataset's classes into two parts.")


@app.command("classes")
def classes(
    dataset: str = typer.Option(..., help="Dataset with classes, e.g. cub."),
    ratio: float = typer.Option(0.5, help="Share of the classes in part 1 (0 < ratio < 1)."),
    seed: int = typer.Option(0, help="Random seed: same seed, same split."),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: its home)."),
    out: Path | None = typer.Option(
        None, help="JSON file to write (default: class-split-<dataset>-<ratio>-<seed>.json)."
    ),
) -> None:
    """Partition the classes into two disjoint sets, written as a small JSON file; use a
    part with --class-split FILE:1 or FILE:2."""
    from gvetool.data.class_split import load_class_split
    from gvetool.user_api.datasets import split_classes

    path = split_classes(dataset, ratio=ratio, seed=seed, data_root=data_root, out=out)
    split = load_class_split(path)
    first, second = (len(part) for part in split["parts"])
    console.out().print(
        f"{first} + {second} classes of '{dataset}' -> {path} "
        f"(use --class-split {path}:1 or {path}:2)",
        highlight=False,
    )
