"""What the Python API returns: runs, folds, cross-validations, reproductions, stores.

Each is a frozen dataclass read from a run's small files, so holding one costs nothing
and no checkpoint is loaded until a caller asks (``gvetool.load(run.best)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gvetool.utils.errors import GvetoolError


@dataclass(frozen=True)
class Run:
    """A training run's folder and what it recorded."""

    directory: Path
    model: str
    dataset: str
    epochs_done: int
    epochs_planned: int
    best_metric: str | None  # the validation number that chose best.pt
    best_score: float | None
    state: str  # finished | interrupted | running
    history: list[dict[str, Any]] = field(repr=False)  # one entry per epoch (metrics.jsonl)

    @property
    def best(self) -> Path | None:
        """``best.pt`` (``None`` if no validation score was ever computed)."""
        path = self.directory / "best.pt"
        return path if path.is_file() else None

    @property
    def last(self) -> Path:
        return self.directory / "last.pt"

    @classmethod
    def open(cls, directory: str | Path) -> Run:
        """The run in ``directory``, read from its small files (no checkpoint is loaded)."""
        from gvetool.engine.runlist import read_history, summarise

        directory = Path(directory)
        summary = summarise(directory)
        if summary is None:
            raise GvetoolError(f"{directory} is not a gvetool run (no readable run.json)")
        return cls(
            directory,
            summary.model,
            summary.dataset,
            summary.epochs_done,
            summary.epochs_planned,
            summary.best_metric,
            summary.best,
            summary.state,
            read_history(directory),
        )


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: its run and its validation numbers."""

    fold: int
    run: Path
    val: dict[str, float]


@dataclass(frozen=True)
class CrossValidation:
    """``cv.json`` as an object: every fold, and mean and std over them; over several
    seeds, the seeds' means summarised again, each seed's own in ``per_seed`` (and no
    ``folds`` of its own)."""

    directory: Path
    model: str
    dataset: str
    folds: list[Fold]
    mean: dict[str, float]
    std: dict[str, float | None]  # None: one value, no spread measured
    per_seed: list[CrossValidation] = field(default_factory=list)


@dataclass(frozen=True)
class Reproduction:
    """The paper-style table of ``gvetool reproduce``: one row per model; over several
    seeds, rows of means and standard deviations (``mean``, ``std``, ``seeds``)."""

    directory: Path
    dataset: str
    sentence_classifier: Path | None  # None over several seeds: one per seed
    rows: list[dict[str, Any]]  # model, plugin and the table's measures


@dataclass(frozen=True)
class FeatureStoreInfo:
    """Where a dataset's features are, and their shape."""

    directory: Path
    images: int
    dim: int
