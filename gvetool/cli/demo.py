"""``gvetool demo``: synthetic data -> sc -> lrcn -> gve -> evaluation -> report."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("gvetool-demo"), help="Folder for data, runs and report."),
    quick: bool = typer.Option(False, "--quick", help="Tiny sizes: a smoke run in under a minute."),
    threads: int = typer.Option(
        0,
        min=0,
        help="Torch threads (0: the cores idle when the demo starts, at least 1; torch's "
        "own default of one per core thrashes when other processes compete).",
    ),
) -> None:
    """Run the whole pipeline on the embedded synthetic dataset, no download needed, and
    compare LRCN and GVE."""
    from gvetool.demo import run_demo

    run_demo(out, quick, threads)
