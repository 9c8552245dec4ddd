"""``gvetool study make``: a study of two runs, written into one folder.

``DIR/questionnaire.html`` (the page raters open), ``DIR/key.json`` (which side is which
run, the checks' answers; keep it from raters), ``DIR/crowd.csv`` with ``DIR/images/`` (a
crowd platform's batch). The folder is built aside and moved into place whole, so a
failure leaves no half study; an existing study is not overwritten.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from gvetool.evaluation.side_by_side import SideBySide, side_by_side
from gvetool.study.design import Question, default_checks, design
from gvetool.study.questionnaire import crowd_csv, key_json, picture, render
from gvetool.utils.errors import GvetoolError
from gvetool.utils.progress import progress_bar

KEY, PAGE, CROWD = "key.json", "questionnaire.html", "crowd.csv"


@dataclass(frozen=True)
class Study:
    """A made study: its folder, the runs compared (A, B) and its questions."""

    directory: Path
    runs: tuple[str, str]
    questions: int
    checks: int

    @property
    def questionnaire(self) -> Path:
        return self.directory / PAGE

    @property
    def key(self) -> Path:
        return self.directory / KEY


def make_study(
    run_a: Path,
    run_b: Path,
    out: Path,
    split: str = "test",
    pairs: int = 50,
    seed: int = 0,
    checks: int | None = None,
    data_root: Path | None = None,
    device: str = "cpu",
    shown: SideBySide | None = None,
) -> Study:
    """Describe ``split`` with both runs, draw the questions and write the study to ``out``
    (``shown``: the runs' sentences, when already computed)."""
    if out.exists() and any(out.iterdir()):
        raise GvetoolError(f"{out} exists and is not empty; choose a new --out for the study")
    shown = shown or side_by_side([run_a, run_b], split, data_root, device)
    checks = default_checks(pairs) if checks is None else checks
    drawn = design(shown, pairs, checks, seed)
    meta = {
        "runs": {"A": shown.runs[0], "B": shown.runs[1]},
        "checkpoints": {"A": str(run_a), "B": str(run_b)},
        "dataset": shown.dataset,
        "split": split,
        "seed": seed,
        "identical_skipped": drawn.identical_skipped,
        "made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    study_id = hashlib.sha256(key_json(meta, drawn.questions).encode()).hexdigest()[:12]
    meta["id"] = study_id
    _write(out, shown, drawn.questions, meta, study_id)
    return Study(
        out,
        (shown.runs[0], shown.runs[1]),
        len(drawn.questions),
        sum(q.kind == "check" for q in drawn.questions),
    )


def _write(
    out: Path, shown: SideBySide, questions: list[Question], meta: dict[str, object], study: str
) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (staging / "images").mkdir()
        pictures: dict[str, bytes] = {}
        with progress_bar(len(questions), "study pictures") as advance:
            for q in questions:
                if q.image_id not in pictures:
                    pictures[q.image_id] = picture(shown.images[q.image_index].path)
                (staging / "images" / f"{q.id}.jpg").write_bytes(pictures[q.image_id])
                advance(1)
        title = f"Which sentence explains it better? ({shown.dataset})"
        (staging / PAGE).write_text(render(study, title, questions, pictures), encoding="utf-8")
        (staging / CROWD).write_text(crowd_csv(questions), encoding="utf-8")
        (staging / KEY).write_text(key_json(meta, questions), encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty, checked above
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
