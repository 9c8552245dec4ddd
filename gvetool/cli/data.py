"""``gvetool data``: make, prepare and inspect datasets and their features."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from gvetool import console
from gvetool.cli.plugin_commands import command_names
from gvetool.errors import GvetoolError
from gvetool.plugins import Plugins, get_plugins
from gvetool.specs import DatasetSpec

DATA_ROOT_HELP = "Dataset folder (default: $GVETOOL_HOME/data/<dataset>)."
CACHE_HELP = "Feature store folder (default: $GVETOOL_HOME/features)."


def build_app(plugins: Plugins) -> typer.Typer:
    """``gvetool data``: the core commands, then one per dataset that brings its own.

    A dataset's ``command`` (``gvetool data synth`` is one) is added under the dataset's
    name, so the core never imports a dataset to offer its tool; a name already taken or
    a command that cannot be imported is skipped with a warning naming the dataset.
    """
    app = typer.Typer(no_args_is_help=True, help="Make, prepare and inspect datasets.")
    for command in (prepare, info, download, features):
        app.command()(command)
    for name in plugins.datasets.names():
        spec = plugins.datasets.get(name)
        if spec.command is not None:
            _add_dataset_command(app, spec)
    return app


def _add_dataset_command(app: typer.Typer, spec: DatasetSpec) -> None:
    if spec.name in command_names(app):
        console.warn(
            f"dataset '{spec.name}' brings a command, but `gvetool data {spec.name}` "
            "already exists; its command was not added"
        )
        return
    try:
        command = spec.load_step("command")
    except GvetoolError as exc:
        console.warn(f"{exc}; `gvetool data {spec.name}` is not available")
        return
    app.command(spec.name)(command)


def prepare(
    dataset: str = typer.Argument(..., help="Dataset whose raw files to prepare, e.g. cub."),
    data_root: Path = typer.Option(..., help="Folder holding the raw release files."),
) -> None:
    """Turn a dataset's raw release files into the layout gvetool reads."""
    counts = get_plugins().datasets.get(dataset).load_step("prepare")(data_root)
    console.out().print(
        ", ".join(f"{key}: {value}" for key, value in counts.items()) + f" -> {data_root}"
    )


def info(
    dataset: str = typer.Option(..., help="Dataset name (see `gvetool plugins`)."),
    data_root: Path | None = typer.Option(None, help=DATA_ROOT_HELP),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
    class_split: str | None = typer.Option(None, help="One part of a class split: FILE:1|2."),
    min_count: int = typer.Option(1, help="Vocabulary min-count threshold."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Images, captions, classes, vocabulary size and feature dim per split."""
    from gvetool.data.features import open_precomputed
    from gvetool.data.open import open_dataset
    from gvetool.data.vocab import Vocabulary

    corpus = open_dataset(dataset, data_root, class_split)
    vocab = Vocabulary.from_tokens(corpus.vocabulary_source().tokens(), min_count=min_count)
    store = open_precomputed(corpus, cache_dir) if corpus.features is not None else None
    report = {
        "dataset": corpus.name,
        "root": str(corpus.root),
        "classes": len(corpus.class_names) if corpus.class_names else None,
        "vocabulary": len(vocab),
        "feature_dim": store.dim if store else None,
        "feature_store": str(store.directory) if store else None,
        "splits": {},
        "notes": corpus.notes,
    }
    for name, split in corpus.splits.items():
        if store:
            store.rows(split.image_ids, what=f"{name} images")
        report["splits"][name] = {
            "images": len(split.image_ids),
            "captions": split.num_captions,
            "classes": len(set(split.class_ids.tolist())) if split.class_ids is not None else None,
        }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"{corpus.name} at {corpus.root}")
    for column in ("split", "images", "captions", "classes"):
        table.add_column(column, justify="right" if column != "split" else "left")
    for name, row in report["splits"].items():
        table.add_row(name, str(row["images"]), str(row["captions"]), str(row["classes"] or "-"))
    out = console.out()
    out.print(table)
    out.print(f"classes: {report['classes'] or 'none'}")
    out.print(f"vocabulary (train, min-count {min_count}): {len(vocab)} words incl. 4 special")
    if store:
        out.print(f"features: {store.dim}-d, store {store.directory}")
    else:
        out.print(
            f"features: none precomputed; `gvetool data features --dataset {dataset} "
            "--encoder resnet50` computes them"
        )
    for note in corpus.notes:
        out.print(f"note: {note}")


def download(
    dataset: str = typer.Argument(..., help="Dataset to download (see `gvetool plugins`)."),
    data_root: Path | None = typer.Option(None, help=DATA_ROOT_HELP),
    mirror: str | None = typer.Option(
        None, help="Fetch from this base URL instead of the original hosts (same paths)."
    ),
) -> None:
    """Download a dataset's public release (resumable; archives extracted safely)."""
    from gvetool.paths import default_data_root

    root = data_root or default_data_root(dataset)
    get_plugins().datasets.get(dataset).load_step("download")(root, mirror)
    console.out().print(f"{dataset} downloaded to {root}")


def features(
    dataset: str = typer.Option(..., help="Dataset name (see `gvetool plugins`)."),
    encoder: str = typer.Option(..., help="Encoder name, e.g. resnet50 or precomputed."),
    weights: str | None = typer.Option(
        None,
        "--encoder-weights",
        "--weights",
        help="Encoder weights: imagenet (default), none, or a state-dict path (as train's).",
    ),
    remove_last: int | None = typer.Option(
        None,
        "--encoder-remove-last",
        "--remove-last",
        help="Remove the encoder's last N layers (default 1: pooled features; as train's).",
    ),
    data_root: Path | None = typer.Option(None, help=DATA_ROOT_HELP),
    cache_dir: Path | None = typer.Option(None, help=CACHE_HELP),
    batch_size: int = typer.Option(64, min=1, help="Images per forward pass."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    num_workers: int = typer.Option(0, min=0, help="Image-decoding worker processes."),
) -> None:
    """Compute (once, resumably) the features of every image into the feature store."""
    from gvetool.data.encoder import ExtractionOptions, build_encoder
    from gvetool.data.open import open_dataset

    options = {"weights": weights, "remove_last": remove_last}
    provider = build_encoder(encoder, **{k: v for k, v in options.items() if v is not None})
    corpus = open_dataset(dataset, data_root)
    store = provider.open_store(
        corpus, cache_dir, ExtractionOptions(batch_size, device, num_workers)
    )
    console.out().print(f"{len(store)} images, {store.dim}-d features in {store.directory}")
