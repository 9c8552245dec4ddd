"""``gvetool explain``: explanations of chosen images, for quick looks and scripts."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from gvetool import console


def explain_command(
    checkpoint: Path = typer.Argument(..., help="A gve/lrcn best.pt or run directory."),
    image_ids: list[str] = typer.Argument(..., help="Image ids, e.g. 001.Red_crowned_Finch/..."),
    class_name: str | None = typer.Option(
        None,
        "--class",
        help="Explain as this class instead of the true one (gve); its name "
        "with or without the number, e.g. 'Laysan Albatross'.",
    ),
    beam: int = typer.Option(1, min=1, help="Beam size (1: greedy)."),
    max_len: int = typer.Option(50, min=1, help="Longest sentence generated."),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: as trained)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Explain why each image shows its class (or the class given with --class)."""
    from gvetool.evaluation.evaluate import explain

    rows = explain(checkpoint, image_ids, class_name, beam, max_len, data_root)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table()
    for column in ("image", "true class", "explained as", "explanation"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["image_id"], row["true_class"] or "-", row["class"] or "-",
                      row["explanation"])  # fmt: skip
    console.out().print(table)
