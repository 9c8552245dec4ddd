"""Repetition measures: what degenerate REINFORCE looks like, in numbers."""

from __future__ import annotations

import json
import shutil

import pytest

from gvetool.cli import main
from gvetool.evaluation.repetition import repeats_a_phrase, repetition

from .test_train import _train


def _words(sentence: str) -> list[str]:
    return sentence.split()


DEGENERATE = _words("this bird has a short conical beak a short conical beak a short conical")


def test_a_repeated_trigram_is_found_and_shares_are_per_sentence():
    assert repeats_a_phrase(DEGENERATE)
    assert not repeats_a_phrase(_words("a red bird with a red crown"))  # "a red" twice: bigram
    sentences = [DEGENERATE, DEGENERATE, _words("a small blue bird"), [], ["a", "b"]]
    assert repetition(sentences) == {
        "repeated_trigram_share": pytest.approx(2 / 5),
        "distinct_sentences": pytest.approx(4 / 5),
        "mean_sentence_length": pytest.approx((14 + 14 + 4 + 0 + 2) / 5),
    }
    assert repetition([]) == {
        "repeated_trigram_share": 0.0,
        "distinct_sentences": 0.0,
        "mean_sentence_length": 0.0,
    }


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_eval_reports_repetition_in_metrics_predictions_and_the_report(tiny_cub_master, tmp_path):
    run = _train(tiny_cub_master, tmp_path, "lrcn")
    assert main(["eval", str(run), "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())["test"]
    predictions = json.loads((tmp_path / "eval" / "predictions" / "test.json").read_text())
    share = sum(p["repeats"] for p in predictions) / len(predictions)
    assert metrics["repeated_trigram_share"] == pytest.approx(share)
    distinct = len({p["caption"] for p in predictions}) / len(predictions)
    assert metrics["distinct_sentences"] == pytest.approx(distinct)
    words = [len(p["caption"].split()) for p in predictions]
    assert metrics["mean_sentence_length"] == pytest.approx(sum(words) / len(words))
    report = (tmp_path / "eval" / "report.html").read_text()
    assert "repeated_trigram_share" in report and "distinct sentences per image" in report
    assert ("repeats a phrase</span>" in report) == any(p["repeats"] for p in predictions)
