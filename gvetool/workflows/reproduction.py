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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from gvetool.config.resolution import for_model
from gvetool.config.schema import TrainConfig
from gvetool.evaluation.evaluate import Evaluation, evaluate
from gvetool.evaluation.report import render_html, write_outputs
from gvetool.evaluation.scoring import default_evaluation_metrics, headers, meanings, table_keys
from gvetool.kernel.manager import get_plugins
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import write_json, write_text
from gvetool.workflows.fanout import launcher_named, run_jobs, seeds_named, unfinished_error
from gvetool.workflows.jobs import FINISHED, Job, JobOutcome

# (the paper's name, the model plugin), in the order of the paper's Table 1.
ABLATIONS = (
    ("description", "lrcn"),
    ("definition", "definition"),
    ("explanation-label", "explanation-label"),
    ("explanation-discriminative", "explanation-discriminative"),
    ("explanation", "gve"),
)


def reproduce_directory(config: TrainConfig, seeds: tuple[int, ...] | None = None) -> Path:
    """A seed's table folder, or with ``seeds`` the summary's over them."""
    return Path(config.out) / f"reproduce-{config.dataset}-{seeds_named(config.seed, seeds)}"


@dataclass(frozen=True)
class _Plan:
    """One seed's table: its config, folder and jobs (the sentence classifier's, "sc",
    unless the config names one)."""

    config: TrainConfig
    directory: Path
    jobs: dict[str, Job]  # by paper label; "sc" for the sentence classifier's job


def reproduce(
    config: TrainConfig,
    models: tuple[str, ...] | None = None,
    metrics: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
    launcher: Any = None,
) -> dict[str, Any]:
    """Train and evaluate the ablations (all, or the named plugins) with the metric
    plugins ``metrics`` (default: every one registered for evaluation), once per seed
    (default: the config's), the runs through ``launcher`` (default: sequential);
    returns the table (over seeds: means and standard deviations)."""
    chosen_metrics = default_evaluation_metrics() if metrics is None else metrics
    chosen = [(label, m) for label, m in ABLATIONS if models is None or m in models]
    unknown = sorted(set(models or ()) - {m for _, m in ABLATIONS})
    if unknown:
        raise GvetoolError(
            f"unknown model '{unknown[0]}' for reproduce; choose from "
            + ", ".join(m for _, m in ABLATIONS)
        )
    seeds = seeds or (config.seed,)
    plans = [
        _plan(dataclasses.replace(config, seed=seed), chosen, len(seeds) > 1) for seed in seeds
    ]
    outcomes = run_jobs(
        [job for plan in plans for job in plan.jobs.values()], launcher or launcher_named(None)
    )
    columns = table_keys(chosen_metrics)
    tables = [_collect(plan, chosen, outcomes, chosen_metrics, columns) for plan in plans]
    table = tables[0] if len(tables) == 1 else _over_seeds(config, seeds, tables, columns)
    unfinished = unfinished_error(outcomes)
    if unfinished is not None:
        raise unfinished
    return table


def _plan(config: TrainConfig, chosen: list[tuple[str, str]], named_by_seed: bool) -> _Plan:
    directory = reproduce_directory(config)
    prefix = f"seed{config.seed}/" if named_by_seed else ""
    jobs: dict[str, Job] = {}
    if config.sc_ckpt is None:
        sc_config = dataclasses.replace(
            for_model(config, "sc", shared=True), out=str(directory / "sc")
        )
        jobs["sc"] = Job(f"{prefix}sc", "sentence classifier", sc_config, directory)
    for label, model in chosen:
        needs_sc = get_plugins().models.get(model).reward_model is not None
        run_config = dataclasses.replace(
            for_model(config, model, shared=True),
            out=str(directory / model),
            sc_ckpt=config.sc_ckpt if needs_sc else None,
        )
        inputs = {"sc_ckpt": jobs["sc"].name} if needs_sc and "sc" in jobs else {}
        jobs[label] = Job(f"{prefix}{model}", label, run_config, directory, inputs)
    return _Plan(config, directory, jobs)


def _collect(
    plan: _Plan,
    chosen: list[tuple[str, str]],
    outcomes: dict[str, JobOutcome],
    metrics: tuple[str, ...],
    columns: list[str],
) -> dict[str, Any]:
    """One seed's finished models evaluated on the test split; the others marked."""
    config = plan.config
    sc = config.sc_ckpt
    if sc is None:
        sc_run = plan.jobs["sc"].run_dir()
        sc = str(sc_run / "best.pt") if sc_run is not None else None
    evaluations: list[tuple[str, Evaluation]] = []
    unfinished: dict[str, JobOutcome] = {}
    for label, model in chosen:
        job = plan.jobs[label]
        run = job.run_dir() if outcomes[job.name].ok else None
        if run is None or sc is None:
            unfinished[label] = outcomes[job.name]
            continue
        evaluation = evaluate(
            run / "best.pt",
            "test",
            sc_ckpt=Path(sc),
            metrics=metrics,
            device=config.device,
            batch_size=config.batch_size,
        )
        write_outputs(evaluation, run, f"{label} ({model}) on {config.dataset} (test)")
        evaluations.append((label, evaluation))
    table = _table(config, chosen, evaluations, unfinished, sc, columns)
    write_json(plan.directory / "table.json", table, indent=2)
    write_text(plan.directory / "table.md", _markdown(table))
    title = f"GVE ablations on {config.dataset} (test split, seed {config.seed})"
    write_text(plan.directory / "report.html", render_html([e for _, e in evaluations], title))
    _print(table, plan.directory)
    return table


def _table(
    config: TrainConfig,
    chosen: list[tuple[str, str]],
    evaluations: list[tuple[str, Evaluation]],
    unfinished: dict[str, JobOutcome],
    sc: str | None,
    columns: list[str],
) -> dict[str, Any]:
    evaluated = dict(evaluations)
    rows = []
    for label, model in chosen:
        if label in evaluated:
            metrics = evaluated[label].metrics
            rows.append(
                {
                    "model": label,
                    "plugin": model,
                    "status": FINISHED,
                    **{c: metrics.get(c) for c in columns},
                }
            )
        else:
            outcome = unfinished[label]
            rows.append(
                {
                    "model": label,
                    "plugin": model,
                    "status": outcome.status,
                    "detail": outcome.detail or "its sentence classifier did not finish",
                    "log": str(outcome.log) if outcome.log else None,
                    **dict.fromkeys(columns),
                }
            )
    return {
        "dataset": config.dataset,
        "seed": config.seed,
        "epochs": config.epochs,
        "sizes": {"embedding": config.embedding_size, "hidden": config.hidden_size},
        "sentence_classifier": sc,
        "columns": columns,
        "rows": rows,
    }


def _over_seeds(
    config: TrainConfig, seeds: tuple[int, ...], tables: list[dict[str, Any]], columns: list[str]
) -> dict[str, Any]:
    """Each model's mean and standard deviation (``ddof=1``) over the seeds it finished,
    written beside the seeds' own folders."""
    rows = []
    for index, first in enumerate(tables[0]["rows"]):
        per_seed = [(table["seed"], table["rows"][index]) for table in tables]
        done = [(seed, row) for seed, row in per_seed if row["status"] == FINISHED]
        row: dict[str, Any] = {
            "model": first["model"],
            "plugin": first["plugin"],
            "seeds": [seed for seed, _ in done],
            "mean": {},
            "std": {},
        }
        for column in columns:
            values = np.array([r[column] for _, r in done if r[column] is not None], dtype=float)
            row["mean"][column] = float(values.mean()) if len(values) else None
            row["std"][column] = float(values.std(ddof=1)) if len(values) > 1 else None
        row["unfinished"] = [
            {"seed": seed, "status": r["status"], "detail": r["detail"], "log": r["log"]}
            for seed, r in per_seed
            if r["status"] != FINISHED
        ]
        rows.append(row)
    table = {
        "dataset": config.dataset,
        "seeds": list(seeds),
        "epochs": config.epochs,
        "sizes": {"embedding": config.embedding_size, "hidden": config.hidden_size},
        "columns": columns,
        "rows": rows,
        "per_seed": [
            str(reproduce_directory(dataclasses.replace(config, seed=seed))) for seed in seeds
        ],
    }
    directory = reproduce_directory(config, seeds)
    write_json(directory / "table.json", table, indent=2)
    write_text(directory / "table.md", _markdown(table))
    _print(table, directory)
    return table


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cells(row: dict[str, Any], columns: list[str]) -> list[str]:
    if "mean" not in row:
        return [_cell(row[c]) for c in columns]
    return [
        "-" if row["mean"][c] is None else console.mean_and_spread(row["mean"][c], row["std"][c])
        for c in columns
    ]


def _label(row: dict[str, Any], table: dict[str, Any]) -> str:
    if "mean" in row:
        finished, total = len(row["seeds"]), len(table["seeds"])
        return row["model"] + ("" if finished == total else f" ({finished} of {total} seeds)")
    return row["model"] + ("" if row["status"] == FINISHED else f" ({row['status']})")


def _unfinished_notes(table: dict[str, Any]) -> list[str]:
    """Why a model or seed is missing and where its log is: what to look at first."""
    notes = []
    for row in table["rows"]:
        missing = row.get("unfinished", [] if row.get("status") == FINISHED else [row])
        for entry in missing:
            seed = f", seed {entry['seed']}" if "seed" in entry else ""
            log = f"; log {entry['log']}" if entry.get("log") else ""
            notes.append(f"{row['model']}{seed}: {entry['status']} ({entry['detail']}){log}")
    return notes


def _title(table: dict[str, Any]) -> str:
    seeds = (
        f"seeds {', '.join(map(str, table['seeds']))}: mean ± std"
        if "seeds" in table
        else f"seed {table['seed']}"
    )
    return f"GVE ablations on {table['dataset']} (test split, {seeds}, {table['epochs']} epochs)"


def _markdown(table: dict[str, Any]) -> str:
    columns = table["columns"]
    lines = [
        f"# {_title(table)}",
        "",
        "| model | " + " | ".join(columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for row in table["rows"]:
        lines.append(f"| {_label(row, table)} | " + " | ".join(_cells(row, columns)) + " |")
    lines += ["", *(f"- {note}" for note in [*meanings(columns), *_unfinished_notes(table)])]
    return "\n".join(lines) + "\n"


def _print(table: dict[str, Any], directory: Path) -> None:
    rich_table = Table(title=_title(table))
    rich_table.add_column("model", no_wrap=True, min_width=max(len(m) for m, _ in ABLATIONS))
    columns = table["columns"]
    for header in headers(columns):
        rich_table.add_column(header, justify="right")
    for row in table["rows"]:
        rich_table.add_row(_label(row, table), *_cells(row, columns))
    out = console.out()
    out.print(rich_table)
    for note in meanings(columns):
        out.print(note, highlight=False)
    for note in _unfinished_notes(table):
        console.warn(note)
    written = "table.md, table.json" + ("" if "seeds" in table else ", report.html")
    out.print(f"{written} and the runs: {directory}", highlight=False)
