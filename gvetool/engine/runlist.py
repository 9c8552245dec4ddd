"""What runs exist under a folder and in which state: the data of ``gvetool runs``.

Read from the small files every run writes (``run.json``, ``config.toml``,
``metrics.jsonl``, ``.running``), never from checkpoints, so listing hundreds of runs
takes no time and needs no torch. A run is *running* while the process named in its
``.running`` file is alive on this machine, *finished* once it has trained every planned
epoch, and *interrupted* otherwise (``gvetool train --resume`` continues it).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gvetool.config.resolution import Best, best_for_run
from gvetool.config.schema import TrainConfig
from gvetool.config.toml_files import load_saved
from gvetool.engine.rundir import RUN_INFO
from gvetool.kernel.manager import get_plugins
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import read_json, write_json

RUNNING = ".running"
FAILED = "failed.json"  # why the run's training process stopped with an error


@dataclass(frozen=True)
class RunSummary:
    path: str
    model: str
    dataset: str
    epochs_done: int
    epochs_planned: int
    best_metric: str | None
    best: float | None
    state: str  # finished | interrupted | running | failed
    detail: str | None = None  # why a failed run failed


def mark_running(run_dir: Path) -> None:
    """Best effort: the marker only informs ``gvetool runs``; a run that cannot write it
    (a full disk) goes on, and fails, if it must, where its checkpoint is written."""
    try:
        write_json(run_dir / RUNNING, {"pid": os.getpid(), "host": socket.gethostname()})
    except GvetoolError as exc:
        console.warn(f"{exc}; `gvetool runs` will not show this run as running")


def clear_running(run_dir: Path) -> None:
    (run_dir / RUNNING).unlink(missing_ok=True)


def mark_failed(run_dir: Path, error: BaseException) -> None:
    """Best effort: record why training stopped with an error, for ``gvetool runs``
    (a resume that starts again removes it)."""
    try:
        write_json(run_dir / FAILED, {"error": f"{type(error).__name__}: {error}"})
    except GvetoolError as exc:
        console.warn(f"{exc}; `gvetool runs` will not show why this run failed")


def clear_failed(run_dir: Path) -> None:
    (run_dir / FAILED).unlink(missing_ok=True)


def _failure(run_dir: Path) -> str | None:
    """What ``failed.json`` says, or ``None`` where there is none (or it is unreadable)."""
    try:
        recorded = read_json(run_dir / FAILED)
    except GvetoolError:
        return None
    return str(recorded.get("error")) if isinstance(recorded, dict) else None


def _alive(marker: Path) -> bool:
    try:
        owner = read_json(marker)
        if owner.get("host") != socket.gethostname():
            return True  # another machine's run: trust the marker
        os.kill(int(owner["pid"]), 0)
    except (GvetoolError, KeyError, TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def summarise(run_dir: Path) -> RunSummary | None:
    """The run's summary, or ``None`` for a folder that is not a readable run."""
    try:
        info = read_json(run_dir / RUN_INFO)
        config = load_saved(run_dir / "config.toml")
    except (GvetoolError, TypeError, OSError):
        return None
    if not isinstance(info, dict):
        info = {}
    history = read_history(run_dir)
    choice = _best_choice(config) if history else None
    key = choice.key if choice else None
    scores = choice.scores_in(history) if choice else []
    detail = None
    if (run_dir / RUNNING).is_file() and _alive(run_dir / RUNNING):
        state = "running"
    elif (detail := _failure(run_dir)) is not None:
        state = "failed"
    else:
        state = "finished" if len(history) >= config.epochs else "interrupted"
    return RunSummary(
        str(run_dir),
        info.get("model", config.model),
        info.get("dataset", config.dataset),
        len(history),
        config.epochs,
        key if scores else None,
        choice.best_of(scores) if choice and scores else None,
        state,
        detail,
    )


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """The epochs the run's ``metrics.jsonl`` records; damaged lines (a disk that filled
    up, an edit) are left out rather than hiding the whole run."""
    try:
        lines = (Path(run_dir) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    history = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            history.append(entry)
    return history


def _best_choice(config: TrainConfig) -> Best | None:
    """The run's best-checkpoint metric (``None``: its model or a metric is not installed)."""
    models = get_plugins().models
    if config.model not in models:
        return None
    try:
        return best_for_run(config, models.get(config.model).task)
    except GvetoolError:
        return None


def list_runs(out: Path) -> list[RunSummary]:
    """Every run below ``out`` (cv folds and reproduce runs included), newest first."""
    runs = [summarise(info.parent) for info in Path(out).rglob(RUN_INFO)]
    found = [r for r in runs if r is not None]
    return sorted(found, key=lambda r: Path(r.path).stat().st_mtime, reverse=True)


def as_dicts(runs: list[RunSummary]) -> list[dict[str, Any]]:
    return [asdict(run) for run in runs]
