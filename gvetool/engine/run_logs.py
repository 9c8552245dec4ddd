"""What a run records after each epoch: metrics.jsonl, train.log, the epoch line, TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gvetool import console
from gvetool.io import write_text


class RunLogs:
    """A run's epoch history, written out in full after each epoch (atomically)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.board = _tensorboard(run_dir)

    def write(
        self, history: list[dict[str, Any]], epochs: int, best_metric: str, improved: bool
    ) -> None:
        """Write the history (its last entry is the epoch just done) and print that epoch."""
        entry = history[-1]
        write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        write_text(self.run_dir / "train.log", "".join(_line(h) + "\n" for h in history))
        marker = f"  [best {best_metric}]" if improved else ""
        numbered = _line(entry).replace(
            f"epoch {entry['epoch']}", f"epoch {entry['epoch']}/{epochs}", 1
        )
        console.out().print(numbered + marker, highlight=False, markup=False)
        if self.board is not None:
            for group in ("train", "val"):
                for key, value in entry[group].items():
                    self.board.add_scalar(f"{group}/{key}", value, entry["epoch"])
            self.board.flush()

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def _tensorboard(run_dir: Path) -> Any:
    """A TensorBoard writer when the ``tensorboard`` extra is installed, else ``None``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def _line(entry: dict[str, Any]) -> str:
    train = "  ".join(f"{k} {v:.3f}" for k, v in entry["train"].items())
    val = "  ".join(f"{k} {v:.3f}" for k, v in entry["val"].items())
    return f"epoch {entry['epoch']}  {train}  | val {val}  ({entry['seconds']:.1f} s)"
