"""Experiment trackers around a training run: started with it, told of every epoch,
finished with its status and best checkpoint.

A tracker is a plugin (:class:`gvetool.kernel.specs.TrackerSpec`); ``--tracker`` names the ones
a run uses beside those always on. A tracker that fails — its server is down, its disk
is full — costs one warning line and is dropped for the rest of the run: training, and
the other trackers, go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gvetool.config.schema import TrainConfig
from gvetool.kernel.manager import get_plugins
from gvetool.kernel.specs import TrackerSpec
from gvetool.utils import console
from gvetool.utils.errors import TrackerUnavailable


@dataclass(frozen=True)
class TrackedRun:
    """What a tracker is told when a run starts or resumes.

    ``config`` is the resolved configuration (what ``config.toml`` holds); ``resumed``
    says the run continues from ``last.pt``, whose ``history`` of epochs a tracker has
    seen before (a tracker that keeps its own id in ``run_dir`` continues the same
    tracked run).
    """

    run_dir: Path
    model: str
    dataset: str
    config: dict[str, Any]
    resumed: bool
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch: its entry (``epoch``, ``global_step``, ``train``, ``val``,
    ``seconds``), the run's whole history so far, and whether it improved ``best.pt``."""

    entry: dict[str, Any]
    history: list[dict[str, Any]]
    best_metric: str
    improved: bool
    checkpoint: Path


def epoch_line(entry: dict[str, Any], of: int | None = None) -> str:
    """One epoch as ``train.log`` shows it, or, ``of`` the run's epochs, the console."""
    train = "  ".join(f"{k} {v:.3f}" for k, v in entry["train"].items())
    val = "  ".join(f"{k} {v:.3f}" for k, v in entry["val"].items())
    epoch = f"{entry['epoch']}/{of}" if of else entry["epoch"]
    return f"epoch {epoch}  {train}  | val {val}  ({entry['seconds']:.1f} s)"


def run_trackers(config: TrainConfig) -> list[str]:
    """The trackers a run uses: those always on, then the ``--tracker`` ones (else the
    registered defaults)."""
    trackers = get_plugins().trackers
    chosen = config.tracker_names()
    for name in chosen:
        trackers.get(name)
    always = [spec.name for spec in trackers.in_order() if spec.always]
    defaults = [spec.name for spec in trackers.in_order() if spec.default]
    return list(dict.fromkeys([*always, *(chosen or defaults)]))


class Trackers:
    """The run's trackers, each call guarded so one failing tracker never stops training."""

    def __init__(self, config: TrainConfig, run: TrackedRun) -> None:
        self._live: dict[str, Any] = {}
        asked = set(config.tracker_names())
        for name in run_trackers(config):
            spec: TrackerSpec = get_plugins().trackers.get(name)
            try:
                tracker = spec.load()()
            except TrackerUnavailable as exc:
                if name in asked:
                    console.warn(f"tracker '{name}' is not used: {exc}")
                continue
            except Exception as exc:  # a tracker's bug must not stop training
                self._warn(name, exc)
                continue
            self._live[name] = tracker
            self._call(name, lambda t=tracker: t.start(run))

    def log_epoch(self, record: EpochRecord) -> None:
        for name, tracker in list(self._live.items()):
            self._call(name, lambda t=tracker: t.log_epoch(record))

    def finish(self, status: str, best: Path | None) -> None:
        """End every tracker's run: ``status`` is ``finished``, ``interrupted`` or
        ``failed``; ``best`` the run's ``best.pt`` (``None``: none was written)."""
        for name, tracker in list(self._live.items()):
            self._call(name, lambda t=tracker: t.finish(status, best))
        self._live.clear()

    def _call(self, name: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as exc:
            self._live.pop(name, None)
            self._warn(name, exc)

    @staticmethod
    def _warn(name: str, exc: Exception) -> None:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        console.warn(
            f"tracker '{name}' failed ({type(exc).__name__}: {reason}); training goes on without it"
        )
