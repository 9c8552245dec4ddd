"""``gvetool study make|score``: the human-evaluation kit (:mod:`gvetool.study`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gvetool.utils import console

app = typer.Typer(no_args_is_help=True, help="A human study of which run explains better.")


@app.command("make")
def make(
    run_a: Path = typer.Argument(..., help="Run A (directory or checkpoint)."),
    run_b: Path = typer.Argument(..., help="Run B, of the same dataset."),
    out: Path = typer.Option(..., help="New folder for the study."),
    split: str = typer.Option("test", help="The split whose images are asked about."),
    pairs: int = typer.Option(50, min=1, help="A/B questions."),
    checks: int | None = typer.Option(
        None, min=0, help="Attention checks (default: one per ten pairs, at least two)."
    ),
    seed: int = typer.Option(0, help="Seed of the draw, the sides and the order."),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: as trained)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
) -> None:
    """Make a questionnaire of randomized A/B pairs: which sentence explains the class?"""
    from gvetool.study import make as make_study

    study = make_study(
        run_a,
        run_b,
        out=out,
        split=split,
        pairs=pairs,
        seed=seed,
        checks=checks,
        data_root=data_root,
        device=device,
        progress=True,
    )
    out_console = console.out()
    out_console.print(
        f"study of {study.runs[0]} (A) against {study.runs[1]} (B): {study.questions} "
        f"questions, {study.checks} of them attention checks",
        highlight=False,
    )
    out_console.print(f"raters open  {study.questionnaire}", highlight=False)
    out_console.print(f"keep private {study.key}", highlight=False)


@app.command("score")
def score(
    directory: Path = typer.Argument(..., help="The study's folder (with key.json)."),
    answers: list[Path] = typer.Argument(..., help="Answer CSVs (rater,question,choice)."),
    allowed_misses: int = typer.Option(
        0, min=0, help="Attention checks a rater may miss and still count."
    ),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
) -> None:
    """Win rate of A over B with a bootstrap 95% interval, per rater and class; kappa."""
    from gvetool.study import score as score_study

    result = score_study(directory, answers, allowed_misses=allowed_misses, seed=seed)
    low, high = result.interval
    raters = Table(title=f"A = {result.runs['A']}, B = {result.runs['B']}")
    for column in ("rater", "pairs answered", "checks passed", "A wins", "counted"):
        raters.add_column(column, justify="left" if column == "rater" else "right")
    for r in result.raters:
        raters.add_row(
            r.rater,
            str(r.answered),
            f"{r.checks_passed}/{r.checks_answered}",
            "-" if r.a_win_rate is None else f"{r.a_win_rate:.0%}",
            "no: failed checks" if r.excluded else "yes",
        )
    classes = Table(title="per class")
    for column in ("class", "votes", "A wins"):
        classes.add_column(column, justify="left" if column == "class" else "right")
    for name, row in result.per_class.items():
        classes.add_row(name, str(row["votes"]), f"{row['a_win_rate']:.0%}")
    shown = console.out()
    shown.print(raters)
    shown.print(classes)
    kappa = "-" if result.kappa is None else f"{result.kappa:.2f}"
    shown.print(
        f"A ({result.runs['A']}) preferred in {result.a_win_rate:.1%} of {result.votes} votes "
        f"on {result.questions} questions, 95% interval {low:.1%} to {high:.1%}; "
        f"Fleiss' kappa {kappa}; excluded: {', '.join(result.excluded) or 'nobody'}",
        highlight=False,
    )
    shown.print(f"wrote {directory / 'result.json'}", highlight=False)
