"""Run directories: ``<out>/<model>-<dataset>-<YYYYmmdd-HHMMSS>/`` and finding earlier runs.

``run.json`` records what a run is (model, dataset, class names, vocabulary digest), so
``gvetool train gve`` can find the newest sentence classifier trained on the same dataset
and classes without loading every checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import read_json, write_json

RUN_INFO = "run.json"


def new_run_dir(out: Path, model: str, dataset: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(out) / f"{model}-{dataset}-{stamp}"
    base.parent.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:  # mkdir is the test: two runs started in the same second get -1 and -2
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as exc:
            raise GvetoolError(f"cannot create run directory {path}: {exc.strerror}") from None


def run_dir_of(path: Path) -> Path:
    """The run directory ``path`` names: itself, or the folder of a checkpoint file in it."""
    path = Path(path)
    return path if path.is_dir() else path.parent


def digest(items: Sequence[str] | None) -> str | None:
    if items is None:
        return None
    return hashlib.sha256(json.dumps(list(items)).encode()).hexdigest()


def write_run_info(
    run_dir: Path, model: str, dataset: str, class_names: Sequence[str] | None, words: Sequence[str]
) -> None:
    write_json(
        run_dir / RUN_INFO,
        {
            "model": model,
            "dataset": dataset,
            "classes": digest(class_names),
            "vocabulary": digest(words),
        },
        indent=2,
    )


def find_runs(out: Path, model: str, dataset: str, class_names: Sequence[str] | None) -> list[Path]:
    """Run dirs of ``model`` on ``dataset`` with these classes and a ``best.pt``, newest first."""
    wanted = digest(class_names)
    found = []
    for info_path in Path(out).glob(f"*/{RUN_INFO}"):
        try:
            info = read_json(info_path)
        except GvetoolError:  # a damaged run is not a candidate
            continue
        run = info_path.parent
        if (
            info.get("model") == model
            and info.get("dataset") == dataset
            and info.get("classes") == wanted
            and (run / "best.pt").is_file()
        ):
            found.append(run)
    return sorted(found, key=lambda run: (run / "best.pt").stat().st_mtime, reverse=True)
