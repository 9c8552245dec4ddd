"""``gvetool explain``: explanations of chosen images (dataset ids or image files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from gvetool.utils import console

if TYPE_CHECKING:
    from gvetool.user_api.explainer import Explainer, Explanation


def explain_command(
    checkpoint: Path = typer.Argument(..., help="A gve/lrcn best.pt or run directory."),
    inputs: list[str] = typer.Argument(
        ...,
        help="Image ids (e.g. 001.Red_crowned_Finch/...) or image files; files go through "
        "the run's image encoder.",
        metavar="images",
    ),
    class_name: str | None = typer.Option(
        None,
        "--class",
        help="Explain as this class instead of the true one (gve; needed for image files); "
        "its name with or without the number, e.g. 'Laysan Albatross'.",
    ),
    beam: int = typer.Option(1, min=1, help="Beam size (1: greedy)."),
    max_len: int = typer.Option(50, min=1, help="Longest sentence generated."),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: as trained)."),
    sc_ckpt: Path | None = typer.Option(
        None, help="Sentence classifier that reads the explanations (default: found)."
    ),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Explain why each image shows its class (or the class given with --class)."""
    from gvetool.user_api.explainer import load

    explainer = load(checkpoint, device=device, data_root=data_root, sc_ckpt=sc_ckpt, progress=True)
    rows = explain_inputs(explainer, inputs, class_name, beam, max_len)
    if as_json:
        typer.echo(json.dumps([_row(r) for r in rows], indent=2))
        return
    table = Table()
    for column in ("image", "true class", "explained as", "explanation", "classifier reads"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.image,
            row.true_class or "-",
            row.explained_class or "-",
            row.sentence,
            row.classifier_class or "-",
        )
    console.out().print(table)


def explain_inputs(
    explainer: Explainer, inputs: list[str], class_name: str | None, beam: int, max_len: int
) -> list[Explanation]:
    """Explanations in input order: an existing file is a photo, anything else an image id
    (a file that is also a dataset image stays an id for a run that cannot encode photos)."""
    photo = [Path(i).is_file() for i in inputs]
    if any(photo) and not explainer.encodes_photos:
        photo = [p and not explainer.has_image(i) for p, i in zip(photo, inputs, strict=True)]
    ids = [i for i, p in zip(inputs, photo, strict=True) if not p]
    files = [i for i, p in zip(inputs, photo, strict=True) if p]
    done = explainer.explain(
        ids, images=files, classes=class_name, beam=beam, max_len=max_len, progress=True
    )
    by_id, by_file = iter(done[: len(ids)]), iter(done[len(ids) :])
    return [next(by_file) if p else next(by_id) for p in photo]


def _row(explanation: Explanation) -> dict[str, str | None]:
    return {
        "image_id": explanation.image,
        "true_class": explanation.true_class,
        "class": explanation.explained_class,
        "explanation": explanation.sentence,
        "classifier_class": explanation.classifier_class,
    }
