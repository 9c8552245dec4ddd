"""The human-evaluation kit: a made study's pages agree with its key, and scoring recovers a
known preference, excludes raters who fail the checks and refuses bad answer files."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gvetool
from gvetool.cli import main
from gvetool.evaluation.side_by_side import Image, Sentence, SideBySide
from gvetool.study.making import make_study
from gvetool.study.statistics import bootstrap_interval, fleiss_kappa, win_rate

CLASSES = [f"{n:03d}.Bird_{n}" for n in range(1, 6)]


def _shown(images: int = 200, identical: int = 0) -> SideBySide:
    """Two runs' sentences without a model: run A's and B's differ, except ``identical``."""
    rows = []
    for n in range(images):
        name = CLASSES[n % len(CLASSES)]
        b = f"run a says {n}" if n < identical else f"run b says {n}"
        rows.append(
            Image(
                f"{name}/{n}.jpg",
                name,
                Path(__file__),  # never opened: pictures are stubbed below
                (f"a reference of {name} {n}", f"another reference of {name} {n}"),
                (Sentence(f"run a says {n}", False, None), Sentence(b, False, None)),
            )
        )
    return SideBySide(
        "synth", "test", ("lrcn", "gve"), ("lrcn", "gve"), (Path("a"), Path("b")), tuple(rows)
    )


@pytest.fixture
def no_pictures(monkeypatch: pytest.MonkeyPatch) -> None:
    import gvetool.study.making as making

    monkeypatch.setattr(making, "picture", lambda path: b"\xff\xd8 not really a jpeg")


def _make(tmp_path: Path, pairs: int = 120, checks: int = 12, seed: int = 3) -> tuple[Path, dict]:
    out = tmp_path / "study"
    make_study(Path("a"), Path("b"), out, pairs=pairs, seed=seed, checks=checks, shown=_shown())
    return out, json.loads((out / "key.json").read_text())


def test_the_questionnaire_crowd_csv_and_key_agree(tmp_path, no_pictures):
    out, key = _make(tmp_path)
    questions = key["questions"]
    assert len(questions) == 132 and sum(q["kind"] == "check" for q in questions) == 12
    assert key["runs"] == {"A": "lrcn", "B": "gve"} and key["seed"] == 3
    page = (out / "questionnaire.html").read_text()
    shown = re.findall(r"<section class='q' id='(q\d+)'>(.*?)</section>", page)
    assert [q for q, _ in shown] == [q["id"] for q in questions]
    for (_, block), q in zip(shown, questions, strict=True):
        sides = [
            html.unescape(s) for s in re.findall(r"value='(?:left|right)'>(.*?)</label>", block)
        ]
        assert sides == [q["left"], q["right"]]
        assert f"This is a <b>{q['class_name'].split('.', 1)[1].replace('_', ' ')}</b>" in block
        if q["kind"] == "pair":
            number = q["image_id"].split("/")[1].split(".")[0]
            by_side = {q["left_is"]: q["left"], q["right_is"]: q["right"]}
            assert by_side == {"A": f"run a says {number}", "B": f"run b says {number}"}
        else:
            assert q[f"{q['expected']}_is"] == "reference"
            assert q[q["expected"]].endswith(q["image_id"].split("/")[1].split(".")[0])
            other = q["right" if q["expected"] == "left" else "left"]
            assert q["class_name"] not in other  # a sentence of another class
    sides = [q["left_is"] for q in questions if q["kind"] == "pair"]
    assert 30 < sides.count("A") < 90  # the sides are drawn, not fixed
    crowd = list(csv.DictReader((out / "crowd.csv").open()))
    assert [r["question"] for r in crowd] == [q["id"] for q in questions]
    assert all((out / r["image"]).is_file() for r in crowd)
    assert "http" not in page.split("<script>")[0].replace("https://", "")  # nothing fetched


def test_the_same_seed_makes_the_same_study_and_another_seed_another(tmp_path, no_pictures):
    _, first = _make(tmp_path / "1")
    _, again = _make(tmp_path / "2")
    _, other = _make(tmp_path / "3", seed=4)
    assert first["questions"] == again["questions"] != other["questions"]


def _answer(path: Path, key: dict, raters: dict[str, float], checks_right: dict[str, bool], seed=0):
    """Each rater picks A with the given probability and answers checks right or wrong."""
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rater", "question", "choice", "seconds"])
        for rater, p in raters.items():
            for q in key["questions"]:
                if q["kind"] == "check":
                    right = q["expected"]
                    choice = (
                        right if checks_right[rater] else ("left" if right == "right" else "right")
                    )
                else:
                    wants_a = rng.random() < p
                    choice = "left" if (q["left_is"] == "A") == wants_a else "right"
                writer.writerow([rater, q["id"], choice, 3])
    return path


def test_scoring_recovers_a_known_preference_and_excludes_careless_raters(tmp_path, no_pictures):
    out, key = _make(tmp_path)
    raters = {"ann": 0.75, "bob": 0.75, "cid": 0.75, "dan": 0.0}
    careful = {"ann": True, "bob": True, "cid": True, "dan": False}
    # Forty independent answer sets: the 95% interval holds the true 0.75 in nearly all.
    results = [
        gvetool.study.score(out, _answer(tmp_path / f"answers{s}.csv", key, raters, careful, s))
        for s in range(40)
    ]
    covered = sum(r.interval[0] < 0.75 < r.interval[1] for r in results)
    assert covered >= 34, [r.interval for r in results]
    assert abs(np.mean([r.a_win_rate for r in results]) - 0.75) < 0.02
    result = results[0]
    assert result.interval[1] - result.interval[0] < 0.2
    answers = tmp_path / "answers0.csv"
    assert result.excluded == ["dan"]  # dan always chose B: his votes would drag it down
    assert result.votes == 3 * 120 and result.questions == 120
    assert set(result.per_class) == set(CLASSES)
    assert sum(row["votes"] for row in result.per_class.values()) == 360
    dan = next(r for r in result.raters if r.rater == "dan")
    assert dan.checks_passed == 0 and dan.checks_answered == 12 and dan.a_win_rate == 0.0
    assert result.kappa is not None and -0.2 < result.kappa < 0.3  # independent coin flips
    written = json.loads((out / "result.json").read_text())
    assert written["excluded"] == ["dan"] and written["votes"] == 360
    admitted = gvetool.study.score(out, answers, allowed_misses=12)
    assert admitted.excluded == [] and admitted.a_win_rate < 0.6


def test_raters_who_agree_have_a_high_kappa(tmp_path, no_pictures):
    out, key = _make(tmp_path)
    answers = _answer(tmp_path / "a.csv", key, {"ann": 1.0, "bob": 1.0}, {"ann": True, "bob": True})
    result = gvetool.study.score(out, answers)
    assert result.a_win_rate == 1.0 and result.kappa == 1.0


def test_fleiss_kappa_matches_a_hand_computation():
    # 4 questions, 3 raters; categories 0/1. P_i: 1, 1/3, 1/3, 1 -> P = 2/3;
    # shares: 0 -> 6/12, 1 -> 6/12 -> P_e = 1/2; kappa = (2/3 - 1/2) / (1/2) = 1/3.
    assert fleiss_kappa([[0, 0, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]]) == pytest.approx(1 / 3)
    assert fleiss_kappa([[0], [1]]) is None  # nobody rated a question twice
    assert win_rate([[True, False], [True]]) == pytest.approx(2 / 3)
    votes = [[True]] * 30 + [[False]] * 10
    assert bootstrap_interval(votes, seed=1) == bootstrap_interval(votes, seed=1)
    low, high = bootstrap_interval(votes, seed=1)
    assert low < 0.75 < high


@pytest.mark.parametrize(
    "rows, words",
    [
        ([["rater", "question"], ["ann", "q001"]], "no column choice"),
        ([["rater", "question", "choice"], ["ann", "q999", "left"]], "question 'q999' is not in"),
        ([["rater", "question", "choice"], ["ann", "q001", "both"]], "neither left nor right"),
        (
            [["rater", "question", "choice"], ["ann", "q001", "left"], ["ann", "q001", "right"]],
            "answered q001 twice",
        ),
        ([["rater", "question", "choice"], ["", "q001", "left"]], "no rater"),
        ([["rater", "question", "choice"]], "hold no answers"),
    ],
)
def test_a_bad_answer_file_is_one_line(tmp_path, no_pictures, capsys, rows, words):
    out, _ = _make(tmp_path, pairs=98, checks=2)  # 100 questions: q001 .. q100
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert main(["study", "score", str(out), str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and err.startswith("error: ")


def test_score_without_a_key_and_make_into_a_used_folder_are_one_line(tmp_path, capsys):
    answers = tmp_path / "a.csv"
    answers.write_text("rater,question,choice\n")
    assert main(["study", "score", str(tmp_path / "none"), str(answers)]) == 1
    assert "missing study key" in capsys.readouterr().err
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("")
    with pytest.raises(gvetool.GvetoolError, match="not empty"):
        make_study(Path("a"), Path("b"), used, shown=_shown())


def test_more_pairs_than_images_with_different_sentences_is_refused(tmp_path):
    with pytest.raises(gvetool.GvetoolError, match=r"only 50 images .* \(150 identical\)"):
        make_study(Path("a"), Path("b"), tmp_path / "s", pairs=60, shown=_shown(200, 150))


@pytest.fixture(scope="module")
def synth_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """LRCN and GVE, tiny, on the embedded synthetic dataset itself."""
    root = tmp_path_factory.mktemp("synth-study")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GVETOOL_HOME", str(root / "home"))
        gvetool.generate_dataset(
            "synth", root / "birds", classes=4, images_per_class=6, image_size=32, feature_dim=16
        )
        common = {
            "dataset": "synth",
            "data_root": root / "birds",
            "out": root / "runs",
            "epochs": 2,
            "hidden_size": 16,
            "embedding_size": 16,
            "batch_size": 16,
        }
        gvetool.train("sc", **common)
        return {
            "lrcn": gvetool.train("lrcn", **common),
            "gve": gvetool.train("gve", **common),
            "home": root / "home",
        }


def test_make_and_score_end_to_end_on_the_embedded_dataset(
    synth_runs, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GVETOOL_HOME", str(synth_runs["home"]))
    out = tmp_path / "study"
    lrcn, gve = synth_runs["lrcn"].directory, synth_runs["gve"].directory
    args = [
        "study",
        "make",
        str(lrcn),
        str(gve),
        "--out",
        str(out),
        "--pairs",
        "3",
        "--checks",
        "2",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "5 questions, 2 of them attention checks" in printed and "questionnaire.html" in printed
    key = json.loads((out / "key.json").read_text())
    answers = _answer(tmp_path / "a.csv", key, {"ann": 1.0, "bob": 0.0}, {"ann": True, "bob": True})
    assert main(["study", "score", str(out), str(answers)]) == 0
    printed = capsys.readouterr().out
    assert "A (lrcn) preferred in 50.0% of 6 votes on 3 questions" in printed
    assert "Fleiss' kappa -" in printed or "Fleiss' kappa" in printed
    assert (out / "result.json").is_file()
    pictures = list((out / "images").glob("*.jpg"))
    assert len(pictures) == 5 and all(p.read_bytes()[:2] == b"\xff\xd8" for p in pictures)
