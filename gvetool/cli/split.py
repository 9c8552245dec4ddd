"""``gvetool split``: reproducible partitions of a dataset's classes."""

from __future__ import annotations

from pathlib import Path

import typer

from gvetool import console

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
    from gvetool.data.class_split import make_class_split, save_class_split
    from gvetool.data.open import open_dataset
    from gvetool.errors import GvetoolError

    corpus = open_dataset(dataset, data_root)
    if corpus.class_names is None:
        raise GvetoolError(f"dataset '{dataset}' has no classes to split")
    split = make_class_split(corpus.class_names, ratio, seed)
    path = out or Path(f"class-split-{dataset}-{ratio:g}-{seed}.json")
    save_class_split(path, split)
    first, second = (len(part) for part in split["parts"])
    console.out().print(
        f"{first} + {second} classes of '{dataset}' -> {path} "
        f"(use --class-split {path}:1 or {path}:2)",
        highlight=False,
    )
