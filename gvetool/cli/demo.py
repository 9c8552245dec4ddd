"""``gvetool demo``: synthetic data -> sc -> lrcn -> gve -> evaluation -> report."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("gvetool-demo"), help="Folder for data, runs and report."),
    quick: bool = typer.Option(False, "--quick", help="Tiny sizes: a smoke run in under a minute."),
    threads: int = typer.Option(
        1,
        min=0,
        help="Torch threads (0: torch's default, one per core). One makes the numbers "
        "independent of the core count and does not thrash beside other work.",
    ),
) -> None:
    """Run the whole pipeline on the embedded synthetic dataset, no download needed, and
    compare LRCN and GVE."""
    from gvetool.user_api.experiments import run_demo

    run_demo(out, quick=quick, threads=threads, progress=True)
