"""Runs that a rerun of the same command finishes instead of repeating (cv, reproduce).

A command that trains several runs into fixed folders (one per fold, one per model) finds
its earlier run in the folder: finished, it is reused; interrupted, it is resumed from
``last.pt`` exactly; absent, it is started.
"""

from __future__ import annotations

import json
from pathlib import Path

from gvetool.config.resolution import resumed
from gvetool.config.schema import TrainConfig
from gvetool.engine.checkpoint import load_checkpoint
from gvetool.engine.trainer import train
from gvetool.utils import console


def train_or_resume(config: TrainConfig, what: str = "run") -> Path:
    """The finished run of ``config.model`` in ``config.out``, or its unfinished one
    resumed, or a new one."""
    run = latest_run(Path(config.out), config.model)
    if run is not None:
        if _finished(run, config.epochs):
            console.err().print(f"{what} already trained: {run}", highlight=False)
            return run
        saved = load_checkpoint(run / "last.pt", config.model)["config"]
        return train(resumed(saved, {"epochs": config.epochs}, run), resume=run)
    return train(config)


def latest_run(out: Path, model: str) -> Path | None:
    """The run of ``model`` in ``out`` that saved a ``last.pt`` most recently, if any."""
    runs = sorted(out.glob(f"{model}-*/last.pt"), key=lambda p: p.stat().st_mtime)
    return runs[-1].parent if runs else None


def finished_run(out: Path, model: str, epochs: int) -> Path | None:
    """The latest run of ``model`` in ``out`` if it trained ``epochs`` epochs and kept a
    ``best.pt`` (what :func:`train_or_resume` would reuse), else ``None``."""
    run = latest_run(out, model)
    return run if run is not None and _finished(run, epochs) else None


def _finished(run: Path, epochs: int) -> bool:
    return epochs_done(run) >= epochs and (run / "best.pt").is_file()


def epochs_done(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def best_validation(run: Path) -> dict[str, float]:
    """The validation metrics of the epoch ``best.pt`` holds."""
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best_epoch = load_checkpoint(run / "best.pt")["epoch"]
    return next(h["val"] for h in history if h["epoch"] == best_epoch)
