"""``gvetool demo``: the whole pipeline on the embedded dataset, with no download.

synthetic birds -> sentence classifier -> LRCN -> GVE -> evaluation of both -> report.
The sizes are chosen to finish in minutes on a 2-core CPU while leaving the models enough
training to show the paper's point: GVE's explanations are more class-discriminative than
LRCN's descriptions of the same images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from gvetool.config.schema import TrainConfig
from gvetool.engine.trainer import train
from gvetool.evaluation.evaluate import Evaluation, evaluate
from gvetool.evaluation.report import render_html, write_outputs
from gvetool.evaluation.scoring import meanings, metric_specs, table_keys
from gvetool.kernel.manager import get_plugins
from gvetool.utils import console
from gvetool.utils.files import write_json, write_text

DATASET = "synth"


@dataclass(frozen=True)
class DemoPlan:
    data: dict[str, Any]
    sentence_classifier: dict[str, Any]
    captioners: dict[str, Any]
    gve: dict[str, Any] = field(default_factory=dict)
    java_metrics: bool = True  # False: leave out the metrics that start Java (seconds each)

    def metrics(self) -> tuple[str, ...]:
        """The registered evaluation metrics this plan computes."""
        return tuple(
            s.name
            for s in metric_specs()
            if s.evaluation and (self.java_metrics or "java" not in s.needs)
        )

    def validation_metrics(self) -> str:
        """Those of them validation after each epoch can compute."""
        return ",".join(s.name for s in metric_specs() if s.name in self.metrics() and s.validation)


FULL = DemoPlan(
    data={"feature_dim": 512},
    sentence_classifier={
        "epochs": 12,
        "embedding_size": 64,
        "hidden_size": 128,
        "lr": 0.005,
        "batch_size": 64,
        "dropout": 0.3,
    },
    captioners={
        "epochs": 12,
        "embedding_size": 128,
        "hidden_size": 256,
        "lr": 0.002,
        "batch_size": 64,
        "dropout": 0.3,
    },
)
QUICK = DemoPlan(
    data={
        "classes": 5,
        "images_per_class": 8,
        "captions_per_image": 4,
        "image_size": 32,
        "feature_dim": 32,
    },
    sentence_classifier={
        "epochs": 2,
        "embedding_size": 16,
        "hidden_size": 16,
        "lr": 0.01,
        "batch_size": 16,
    },
    captioners={"epochs": 2, "embedding_size": 16, "hidden_size": 16, "lr": 0.01, "batch_size": 16},
    java_metrics=False,
)


def run_demo(out: Path, quick: bool = False, threads: int = 1) -> tuple[Path, list[Evaluation]]:
    """Run the pipeline into ``out``; returns the report's path and both evaluations.

    ``threads`` (0: torch's default, one per core) applies to training and evaluation
    alike, and the caller's thread count is restored afterwards. One thread by default:
    the demo's numbers then do not depend on the core count (summation order depends
    on the thread count), and it does not thrash beside other work. Measured on 2 cores, one GVE
    epoch at the demo's sizes: idle, 13.6 s on 2 threads and 17.9 s on 1; beside two busy
    processes, 138 s on 2 threads and 32 s on 1.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run(out, QUICK if quick else FULL, threads)
    finally:
        torch.set_num_threads(before)


def _run(out: Path, plan: DemoPlan, threads: int) -> tuple[Path, list[Evaluation]]:
    started = time.perf_counter()
    data, runs = out / "data", out / "runs"
    if not (data / "classes.txt").is_file():
        get_plugins().datasets.get(DATASET).load_step("generate")(data, force=True, **plan.data)
    common = {
        "dataset": DATASET,
        "data_root": str(data),
        "out": str(runs),
        "threads": threads,
        "val_metrics": plan.validation_metrics(),
    }
    train(_config("sc", common, plan.sentence_classifier))
    evaluations = []
    for model in ("lrcn", "gve"):
        run = train(
            _config(model, common, {**plan.captioners, **(plan.gve if model == "gve" else {})})
        )
        evaluation = evaluate(run / "best.pt", "test", metrics=plan.metrics())
        write_outputs(evaluation, run, f"{model} on synthetic birds (test)")
        evaluations.append(evaluation)
    title = "gvetool demo: LRCN vs GVE on synthetic birds (test split)"
    report = out / "report.html"
    write_text(report, render_html(evaluations, title))
    write_json(out / "metrics.json", {e.model: e.metrics for e in evaluations}, indent=2)
    _print_comparison(evaluations, plan, time.perf_counter() - started, report)
    return report, evaluations


def _config(model: str, common: dict[str, Any], sizes: dict[str, Any]) -> TrainConfig:
    config = TrainConfig(model=model, **common, **sizes)
    config.validate()
    return config


def _print_comparison(
    evaluations: list[Evaluation], plan: DemoPlan, seconds: float, report: Path
) -> None:
    table = Table(title="LRCN vs GVE (test split)")
    table.add_column("metric")
    for evaluation in evaluations:
        table.add_column(evaluation.model.upper(), justify="right")
    compared = table_keys(plan.metrics())
    for key in compared:
        values = [e.metrics.get(key) for e in evaluations]
        table.add_row(key, *("-" if v is None else f"{v:.3f}" for v in values))
    out = console.out()
    out.print(table)
    for note in meanings(compared):
        out.print(note, highlight=False)
    out.print(f"finished in {seconds / 60:.1f} min; report: {report}", highlight=False)
