"""``gvetool eval``: score a captioning checkpoint and write metrics, predictions, report."""

from __future__ import annotations

from pathlib import Path

import typer

from gvetool import console


def evaluate_command(
    checkpoint: Path = typer.Argument(..., help="A best.pt/last.pt or a run directory."),
    split: str = typer.Option("test", help="Split to evaluate."),
    beam: int = typer.Option(1, min=1, help="Beam size (1: greedy)."),
    max_len: int = typer.Option(50, min=1, help="Longest sentence generated."),
    length_penalty: float = typer.Option(
        0.0, help="Beam: rank finished sentences by log p / length**this (0: plain log p)."
    ),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: as trained)."),
    sc_ckpt: Path | None = typer.Option(
        None, help="Sentence classifier for explanation accuracy (default: found)."
    ),
    out: Path | None = typer.Option(None, help="Output folder (default: the run directory)."),
    batch_size: int = typer.Option(64, min=1, help="Images per generation batch."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
) -> None:
    """Caption metrics (BLEU, METEOR, ROUGE-L, CIDEr, SPICE) and the class relevance of
    explanations; writes metrics.json, predictions/<split>.json and report.html."""
    from gvetool.evaluation.evaluate import evaluate
    from gvetool.evaluation.report import print_summary, write_outputs

    evaluation = evaluate(
        checkpoint, split, beam, max_len, data_root, sc_ckpt, batch_size, length_penalty, device
    )
    run_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    title = f"{evaluation.model} on {evaluation.dataset} ({split}, beam {beam})"
    report = write_outputs(evaluation, out or run_dir, title)
    print_summary([evaluation], title)
    console.out().print(f"report: {report}", highlight=False)
