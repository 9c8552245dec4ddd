"""``gvetool runs``: the runs under a folder — what, how far, how good, in which state."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from gvetool.utils import console
from gvetool.utils.errors import GvetoolError

STATE_STYLE = {"finished": "green", "interrupted": "yellow", "running": "cyan", "failed": "red"}


def runs(
    out: Path = typer.Option(Path("runs"), help="Folder to look in (cv and reproduce included)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """List training runs: model, dataset, epochs done/planned, best validation score,
    state (finished, interrupted — resume it —, running, or failed, with why) and folder."""
    from gvetool.engine.runlist import as_dicts, list_runs

    if not out.is_dir():
        what = "is not a folder" if out.exists() else "does not exist"
        raise GvetoolError(
            f"{out} {what}; pass --out with the folder train, cv or reproduce wrote to"
        )
    found = list_runs(out)
    if as_json:
        typer.echo(json.dumps(as_dicts(found), indent=2))
        return
    if not found:
        console.out().print(f"no runs in {out}", highlight=False)
        return
    table = Table(title=f"runs in {out} (newest first)")
    for column in ("model", "dataset", "epochs", "best", "state", "folder"):
        table.add_column(column, overflow="fold", justify="right" if column == "best" else "left")
    for run in found:
        best = f"{run.best_metric} {run.best:.3f}" if run.best is not None else "-"
        table.add_row(
            escape(run.model),
            escape(run.dataset),
            f"{run.epochs_done}/{run.epochs_planned}",
            best,
            f"[{STATE_STYLE[run.state]}]{run.state}[/]"
            + (f": {escape(run.detail)}" if run.detail else ""),
            escape(str(Path(run.path).relative_to(out))),
        )
    console.out().print(table)
