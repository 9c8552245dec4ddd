"""``gvetool study score``: raters' answers read against the key, as numbers.

A rater who picks the other class's sentence in more attention checks than allowed is
excluded from every number and listed as such. For the raters kept: A's win rate over B
(overall with a bootstrap 95% interval, per rater, per class) and Fleiss' kappa, their
agreement on which run explains better. ``DIR/result.json`` holds it all.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gvetool.study.answers import Answer, read_answers
from gvetool.study.design import CHECK, PAIR
from gvetool.study.making import KEY
from gvetool.study.statistics import bootstrap_interval, fleiss_kappa, win_rate
from gvetool.utils.errors import DataError
from gvetool.utils.files import reading, write_json

RESULT = "result.json"


@dataclass(frozen=True)
class RaterResult:
    rater: str
    answered: int  # pair questions
    checks_passed: int
    checks_answered: int
    excluded: bool
    a_win_rate: float | None


@dataclass(frozen=True)
class StudyResult:
    """What a study found: A's win rate over B with its interval, per rater and class."""

    runs: dict[str, str]
    a_win_rate: float
    interval: tuple[float, float]
    votes: int
    questions: int
    kappa: float | None
    raters: list[RaterResult]
    per_class: dict[str, dict[str, float | int]]

    @property
    def excluded(self) -> list[str]:
        return [r.rater for r in self.raters if r.excluded]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "excluded": self.excluded}


def score_study(
    directory: Path, answer_files: Sequence[Path], allowed_misses: int = 0, seed: int = 0
) -> StudyResult:
    """Score ``answer_files`` against ``directory``'s key and write ``result.json``."""
    key = _key(directory)
    questions = {q["id"]: q for q in key["questions"]}
    answers = read_answers(answer_files, set(questions))
    raters = _raters(answers, questions, allowed_misses)
    kept = {r.rater for r in raters if not r.excluded}
    if not kept:
        raise DataError(
            f"every rater failed more than {allowed_misses} attention check(s); nothing to "
            "score (--allowed-misses admits more)"
        )
    votes: dict[str, list[bool]] = defaultdict(list)
    for answer in answers:
        question = questions[answer.question]
        if answer.rater in kept and question["kind"] == PAIR:
            votes[answer.question].append(_chose_a(question, answer))
    if not votes:
        raise DataError("no kept rater answered a pair question; nothing to score")
    per_class: dict[str, list[list[bool]]] = defaultdict(list)
    for question_id, chosen in votes.items():
        per_class[questions[question_id]["class_name"]].append(chosen)
    result = StudyResult(
        runs=dict(key["runs"]),
        a_win_rate=win_rate(list(votes.values())),
        interval=bootstrap_interval(list(votes.values()), seed),
        votes=sum(len(v) for v in votes.values()),
        questions=len(votes),
        kappa=fleiss_kappa([[0 if a else 1 for a in v] for v in votes.values()]),
        raters=raters,
        per_class={
            name: {"a_win_rate": win_rate(q), "votes": sum(len(v) for v in q)}
            for name, q in sorted(per_class.items())
        },
    )
    write_json(directory / RESULT, result.to_json(), indent=2)
    return result


def _key(directory: Path) -> dict[str, Any]:
    path = directory / KEY
    with reading(path, "study key", DataError, " (make the study with gvetool study make)"):
        text = path.read_text(encoding="utf-8")
    try:
        key = json.loads(text)
        if not isinstance(key.get("questions"), list) or not isinstance(key.get("runs"), dict):
            raise ValueError
    except (ValueError, AttributeError):
        raise DataError(f"{path} is not a study key written by gvetool study make") from None
    return key


def _chose_a(question: dict[str, Any], answer: Answer) -> bool:
    return question[f"{answer.choice}_is"] == "A"


def _raters(
    answers: list[Answer], questions: dict[str, dict[str, Any]], allowed_misses: int
) -> list[RaterResult]:
    by_rater: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_rater[answer.rater].append(answer)
    results = []
    for rater, given in sorted(by_rater.items()):
        checks = [a for a in given if questions[a.question]["kind"] == CHECK]
        passed = sum(a.choice == questions[a.question]["expected"] for a in checks)
        pairs = [[_chose_a(questions[a.question], a)] for a in given if a not in checks]
        results.append(
            RaterResult(
                rater,
                len(pairs),
                passed,
                len(checks),
                len(checks) - passed > allowed_misses,
                win_rate(pairs) if pairs else None,
            )
        )
    return results
