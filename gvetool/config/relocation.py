"""Paths in a run's configuration: made absolute when resolved, found again when the
run's folder was moved or copied together with its data."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from gvetool.config.schema import PATHS, TrainConfig


def _file_and_suffix(key: str, value: str) -> tuple[str, str]:
    """A path key's file and what follows it (``class_split``'s ``:PART``)."""
    if key == "class_split":
        file, colon, part = value.rpartition(":")
        if colon and part.isdigit():
            return file, colon + part
    return value, ""


def absolute_paths(config: TrainConfig) -> TrainConfig:
    """``config`` with every path key absolute (relative ones are taken from the current
    folder, as they were given): a run's ``config.toml`` and checkpoints then name the
    files it used whichever folder they are read from."""
    changes = {}
    for key in PATHS:
        value = getattr(config, key)
        if value:
            file, suffix = _file_and_suffix(key, value)
            changes[key] = os.path.abspath(os.path.expanduser(file)) + suffix
    return replace(config, **changes)


def written_in(config: TrainConfig, run_dir: Path) -> Path:
    """The folder the run now in ``run_dir`` was written in, by its saved ``config``."""
    return Path(config.out) / run_dir.name


def beside_run(path: str, written_in: Path, run_dir: Path) -> str:
    """Where ``path``, named by the run written in ``written_in`` and now in ``run_dir``,
    is if the two moved together (a project folder copied elsewhere)."""
    return os.path.normpath(run_dir.absolute() / os.path.relpath(path, written_in.absolute()))


def relocated(config: TrainConfig, run_dir: Path) -> TrainConfig:
    """The saved config of the run in ``run_dir``, its paths found again if it was moved.

    A path that still exists is kept; one that does not is looked for at the same place
    relative to the run as when it was written (``out``/the run's folder name), so that a
    folder holding runs and data together can be moved or copied as a whole.
    """
    written = written_in(config, run_dir)
    changes: dict[str, Any] = {}
    for key in PATHS:
        value = getattr(config, key)
        if not value or key == "out":
            continue
        file, suffix = _file_and_suffix(key, value)
        moved = beside_run(file, written, run_dir)
        if not os.path.exists(file) and os.path.exists(moved):
            changes[key] = moved + suffix
    if os.path.abspath(written) != os.path.abspath(run_dir):
        changes["out"] = str(run_dir.absolute().parent)
    return replace(config, **changes)
