"""The built-in trackers, which write into the run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gvetool.engine.tracking import EpochRecord, TrackedRun, epoch_line
from gvetool.utils.errors import TrackerUnavailable
from gvetool.utils.files import write_text


class JsonLines:
    """The whole history rewritten atomically after each epoch: a crash mid-write never
    leaves half a line, and a resumed run's file stays one epoch per line."""

    def start(self, run: TrackedRun) -> None:
        self.run_dir = run.run_dir

    def log_epoch(self, record: EpochRecord) -> None:
        history = record.history
        write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        write_text(self.run_dir / "train.log", "".join(epoch_line(h) + "\n" for h in history))

    def finish(self, status: str, best: Path | None) -> None:
        """Everything is written after each epoch already."""


class TensorBoard:
    """Each epoch's train and validation numbers as scalars, ``group/key`` by epoch."""

    def __init__(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrackerUnavailable(
                "TensorBoard is not installed (pip install tensorboard)"
            ) from None
        self._writer_type = SummaryWriter
        self.board: Any = None

    def start(self, run: TrackedRun) -> None:
        self.board = self._writer_type(log_dir=str(run.run_dir / "tensorboard"))

    def log_epoch(self, record: EpochRecord) -> None:
        entry = record.entry
        for group in ("train", "val"):
            for key, value in entry[group].items():
                self.board.add_scalar(f"{group}/{key}", value, entry["epoch"])
        self.board.flush()

    def finish(self, status: str, best: Path | None) -> None:
        self.board.close()
