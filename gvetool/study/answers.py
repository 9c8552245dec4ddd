"""Reading raters' answer files against a study's key, refusing what does not fit.

An answer file is CSV with the columns ``rater,question,choice`` (more columns are
ignored; a crowd platform's export renamed to these works), ``choice`` ``left`` or
``right``. A missing column, a question the key does not have, a choice that is neither
side, or the same rater answering a question twice is one line naming the file and row.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gvetool.study.questionnaire import ANSWER_COLUMNS
from gvetool.utils.errors import DataError
from gvetool.utils.files import reading

CHOICES = ("left", "right")


@dataclass(frozen=True)
class Answer:
    rater: str
    question: str
    choice: str  # left or right


def read_answers(paths: Sequence[Path], questions: set[str]) -> list[Answer]:
    """Every answer of every file, checked against the study's ``questions``."""
    answers: list[Answer] = []
    seen: dict[tuple[str, str], str] = {}
    for path in paths:
        with (
            reading(path, "answer file", DataError),
            open(path, newline="", encoding="utf-8-sig") as f,
        ):
            rows = list(csv.DictReader(f))
            header = rows[0].keys() if rows else _header(path)
        missing = [c for c in ANSWER_COLUMNS if c not in header]
        if missing:
            raise DataError(
                f"{path} has no column {', '.join(missing)}; answer files have the columns "
                f"{','.join(ANSWER_COLUMNS)}"
            )
        for line, row in enumerate(rows, start=2):
            answer = Answer(*(str(row[c] or "").strip() for c in ANSWER_COLUMNS))
            where = f"{path}, line {line}"
            if not answer.rater:
                raise DataError(f"{where}: no rater")
            if answer.question not in questions:
                raise DataError(f"{where}: question {answer.question!r} is not in this study")
            if answer.choice not in CHOICES:
                raise DataError(f"{where}: choice {answer.choice!r} is neither left nor right")
            earlier = seen.setdefault((answer.rater, answer.question), where)
            if earlier != where:
                raise DataError(
                    f"{where}: rater {answer.rater!r} answered {answer.question} twice "
                    f"(first at {earlier})"
                )
            answers.append(answer)
    if not answers:
        raise DataError("the answer files hold no answers")
    return answers


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return next(csv.reader(f), [])
