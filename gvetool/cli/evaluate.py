"""``gvetool eval``: score a captioning checkpoint and write metrics, predictions, report."""

from __future__ import annotations

from pathlib import Path

import typer

from gvetool.cli.config_options import COMPLETIONS
from gvetool.utils import console


def evaluate_command(
    checkpoints: list[Path] = typer.Argument(
        ..., help="best.pt/last.pt files or run directories; several: compared side by side."
    ),
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
    out: Path | None = typer.Option(
        None,
        help="Output folder (default: the run directory; for several checkpoints the "
        "side-by-side report goes to ./comparison).",
    ),
    batch_size: int = typer.Option(64, min=1, help="Images per generation batch."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    force: bool = typer.Option(
        False, "--force", help="Replace earlier results of this split decoded with other settings."
    ),
    metrics: str | None = typer.Option(
        None,
        autocompletion=COMPLETIONS["val_metrics"],
        help="Metric plugins, comma-separated (default: every one registered for evaluation; "
        "gvetool plugins lists them).",
    ),
) -> None:
    """Caption metrics (BLEU, METEOR, ROUGE-L, CIDEr, SPICE), the class relevance of
    explanations and any metric a plugin adds; writes metrics.json, predictions/<split>.json
    and report.html (with the training curves; several checkpoints: one report with their
    examples side by side)."""
    from gvetool.engine.rundir import run_dir_of
    from gvetool.evaluation.evaluate import decoding
    from gvetool.evaluation.report import print_summary, refuse_other_settings, render_html
    from gvetool.user_api.evaluating import evaluate
    from gvetool.utils.files import write_json, write_text

    decoded = decoding(beam, max_len, length_penalty)
    sc_path = sc_ckpt.absolute() if sc_ckpt else None
    alone = len(checkpoints) == 1
    targets = [(out or run_dir_of(c)) if alone else run_dir_of(c) for c in checkpoints]
    for target in targets:  # before any work: each run's own outputs
        refuse_other_settings(target, split, decoded, sc_path, force)
    evaluations = [
        evaluate(
            checkpoint,
            split=split,
            beam=beam,
            max_len=max_len,
            length_penalty=length_penalty,
            data_root=data_root,
            sc_ckpt=sc_ckpt,
            batch_size=batch_size,
            device=device,
            out=target,
            force=force,
            metrics=metrics,
            progress=True,
        )
        for checkpoint, target in zip(checkpoints, targets, strict=True)
    ]
    report = evaluations[-1].report
    title = " vs ".join(e.model for e in evaluations) + f" on {evaluations[0].dataset} ({split})"
    if len(evaluations) > 1:
        folder = out or Path("comparison")
        report = folder / "report.html"
        write_text(report, render_html(evaluations, title))
        by_checkpoint = {str(c): e.metrics for c, e in zip(checkpoints, evaluations, strict=True)}
        write_json(folder / "metrics.json", by_checkpoint, indent=2)
    print_summary(evaluations, title)
    console.out().print(f"report: {report}", highlight=False)
