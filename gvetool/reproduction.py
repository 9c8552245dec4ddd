"""``gvetool reproduce``: the GVE paper's ablation table on one dataset, in one command.

    sentence classifier -> description (lrcn), definition, explanation-label,
    explanation-discriminative, explanation (gve) -> test evaluation -> table

Every model trains with the same configuration (sizes, epochs, seed) into
``<out>/reproduce-<dataset>-seed<S>/<model>/`` and is evaluated on the test split with the
same sentence classifier, which also gives the REINFORCE reward of the models that use one.
A rerun skips finished runs and resumes an interrupted one. The table (``table.md``,
``table.json``) has a column for each table key of the metrics evaluated (the registered
evaluation metrics by default: the paper's METEOR, CIDEr, class similarity and class rank,
the independent judge's and the sentence classifier's top-1 accuracy, and repetition);
``report.html`` shows all five models side by side.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.table import Table

from gvetool import console
from gvetool.config import TrainConfig
from gvetool.engine.resumable import train_or_resume
from gvetool.errors import GvetoolError
from gvetool.evaluation.evaluate import Evaluation, evaluate
from gvetool.evaluation.report import render_html, write_outputs
from gvetool.evaluation.scoring import default_evaluation_metrics, headers, meanings, table_keys
from gvetool.io import write_json, write_text
from gvetool.plugins import get_plugins
from gvetool.resolution import for_model

# (the paper's name, the model plugin), in the order of the paper's Table 1.
ABLATIONS = (
    ("description", "lrcn"),
    ("definition", "definition"),
    ("explanation-label", "explanation-label"),
    ("explanation-discriminative", "explanation-discriminative"),
    ("explanation", "gve"),
)


def reproduce_directory(config: TrainConfig) -> Path:
    return Path(config.out) / f"reproduce-{config.dataset}-seed{config.seed}"


def reproduce(
    config: TrainConfig,
    models: tuple[str, ...] | None = None,
    metrics: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Train and evaluate the ablations (all, or the named plugins) with the metric
    plugins ``metrics`` (default: every one registered for evaluation); returns the table."""
    chosen_metrics = default_evaluation_metrics() if metrics is None else metrics
    chosen = [(label, m) for label, m in ABLATIONS if models is None or m in models]
    unknown = sorted(set(models or ()) - {m for _, m in ABLATIONS})
    if unknown:
        raise GvetoolError(
            f"unknown model '{unknown[0]}' for reproduce; choose from "
            + ", ".join(m for _, m in ABLATIONS)
        )
    directory = reproduce_directory(config)
    sc = config.sc_ckpt
    if sc is None:
        sc_config = dataclasses.replace(
            for_model(config, "sc", shared=True), out=str(directory / "sc")
        )
        sc = str(train_or_resume(sc_config, "sentence classifier") / "best.pt")
    evaluations: list[tuple[str, Evaluation]] = []
    for label, model in chosen:
        console.err().print(f"[bold]{label}[/bold] ({model})")
        needs_sc = get_plugins().models.get(model).reward_model is not None
        run_config = dataclasses.replace(
            for_model(config, model, shared=True), out=str(directory / model),
            sc_ckpt=sc if needs_sc else None,
        )  # fmt: skip
        run = train_or_resume(run_config, label)
        evaluation = evaluate(run / "best.pt", "test", sc_ckpt=Path(sc), metrics=chosen_metrics,
                              device=config.device, batch_size=config.batch_size)  # fmt: skip
        write_outputs(evaluation, run, f"{label} ({model}) on {config.dataset} (test)")
        evaluations.append((label, evaluation))
    table = _table(config, evaluations, sc, table_keys(chosen_metrics))
    write_json(directory / "table.json", table, indent=2)
    write_text(directory / "table.md", _markdown(table))
    title = f"GVE ablations on {config.dataset} (test split, seed {config.seed})"
    write_text(directory / "report.html", render_html([e for _, e in evaluations], title))
    _print(table, directory)
    return table


def _table(
    config: TrainConfig, evaluations: list[tuple[str, Evaluation]], sc: str, columns: list[str]
) -> dict:
    rows = [
        {"model": label, "plugin": e.model, **{c: e.metrics.get(c) for c in columns}}
        for label, e in evaluations
    ]
    return {
        "dataset": config.dataset,
        "seed": config.seed,
        "epochs": config.epochs,
        "sizes": {"embedding": config.embedding_size, "hidden": config.hidden_size},
        "sentence_classifier": sc,
        "columns": columns,
        "rows": rows,
    }


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _markdown(table: dict[str, Any]) -> str:
    columns = table["columns"]
    lines = [
        f"# GVE ablations on {table['dataset']} (test split, seed {table['seed']}, "
        f"{table['epochs']} epochs)",
        "",
        "| model | " + " | ".join(columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for row in table["rows"]:
        lines.append(f"| {row['model']} | " + " | ".join(_cell(row[c]) for c in columns) + " |")
    lines += ["", *(f"- {note}" for note in meanings(columns))]
    return "\n".join(lines) + "\n"


def _print(table: dict[str, Any], directory: Path) -> None:
    rich_table = Table(title=f"GVE ablations on {table['dataset']} (test split)")
    rich_table.add_column("model", no_wrap=True, min_width=max(len(m) for m, _ in ABLATIONS))
    columns = table["columns"]
    for header in headers(columns):
        rich_table.add_column(header, justify="right")
    for row in table["rows"]:
        rich_table.add_row(row["model"], *(_cell(row[c]) for c in columns))
    out = console.out()
    out.print(rich_table)
    for note in meanings(columns):
        out.print(note, highlight=False)
    out.print(f"table.md, table.json, report.html and the runs: {directory}", highlight=False)
