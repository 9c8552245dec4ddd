"""``gvetool data``: make, prepare and inspect datasets and their features."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from gvetool.cli.plugin_commands import command_names
from gvetool.kernel.manager import Plugins
from gvetool.kernel.specs import DatasetSpec
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError

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
    from gvetool.user_api.datasets import prepare_dataset

    counts = prepare_dataset(dataset, data_root, progress=True)
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
    from gvetool.user_api.datasets import dataset_info

    report = dataset_info(
        dataset,
        data_root=data_root,
        cache_dir=cache_dir,
        class_split=class_split,
        min_count=min_count,
        progress=True,
    )
    vocab_size, store_dim = report["vocabulary"], report["feature_dim"]
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"{report['dataset']} at {report['root']}")
    for column in ("split", "images", "captions", "classes"):
        table.add_column(column, justify="right" if column != "split" else "left")
    for name, row in report["splits"].items():
        table.add_row(name, str(row["images"]), str(row["captions"]), str(row["classes"] or "-"))
    out = console.out()
    out.print(table)
    out.print(f"classes: {report['classes'] or 'none'}")
    out.print(f"vocabulary (train, min-count {min_count}): {vocab_size} words incl. 4 special")
    if store_dim:
        out.print(f"features: {store_dim}-d, store {report['feature_store']}")
    else:
        out.print(
            f"features: none precomputed; `gvetool data features --dataset {dataset} "
            "--encoder resnet50` computes them"
        )
    for note in report["notes"]:
        out.print(f"note: {note}")


def download(
    dataset: str = typer.Argument(..., help="Dataset to download (see `gvetool plugins`)."),
    data_root: Path | None = typer.Option(None, help=DATA_ROOT_HELP),
    mirror: str | None = typer.Option(
        None, help="Fetch from this base URL instead of the original hosts (same paths)."
    ),
) -> None:
    """Download a dataset's public release (resumable; archives extracted safely)."""
    from gvetool.user_api.datasets import download_dataset

    root = download_dataset(dataset, data_root, mirror=mirror, progress=True)
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
    from gvetool.user_api.datasets import compute_features

    store = compute_features(
        dataset,
        encoder,
        encoder_weights=weights,
        encoder_remove_last=remove_last,
        data_root=data_root,
        cache_dir=cache_dir,
        batch_size=batch_size,
        device=device,
        num_workers=num_workers,
        progress=True,
    )
    console.out().print(f"{store.images} images, {store.dim}-d features in {store.directory}")
