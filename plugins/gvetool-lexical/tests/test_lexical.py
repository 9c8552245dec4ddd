"""The lexical metrics, installed as a user would: in eval, the report and --val-metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gvetool_lexical.measures import Lexical, Novelty, distinct

import gvetool
from gvetool.plugin_api import (
    ScoringInput,
    SynthOptions,
    TrainingCaptions,
    load_checkpoint,
    reset_plugins,
)
from gvetool.plugin_api import generate_synth as generate
from gvetool.plugin_api import run_cli as main

TINY = ["--hidden-size", "32", "--embedding-size", "16", "--batch-size", "8", "--lr", "0.02"]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("GVETOOL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GVETOOL_QUIET", "1")
    reset_plugins()


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    root = tmp_path_factory.mktemp("birds") / "cub"
    generate(
        root,
        SynthOptions(
            classes=3,
            images_per_class=8,
            captions_per_image=4,
            image_size=32,
            feature_dim=8,
            seed=5,
        ),
    )
    return root


def _train(birds: Path, out: Path, *extra: str) -> Path:
    args = ["train", "lrcn", "--dataset", "cub", "--data-root", str(birds), "--out", str(out)]
    assert main([*args, *TINY, *extra]) == 0
    return next(out.glob("lrcn-cub-*"))


def test_the_measures_count_words_and_bigrams():
    sentences = ["a red bird", "a red bird", "a blue bird sings"]
    words = [s.split() for s in sentences]
    assert distinct(words, 1) == pytest.approx(5 / 10)
    assert distinct(words, 2) == pytest.approx(5 / 7)  # 7 bigrams, "a red" and "red bird" twice
    result = Lexical().score(ScoringInput(sentences, words))
    assert result.totals == {
        "vocabulary_usage": 5.0,
        "distinct_1": 0.5,
        "distinct_2": pytest.approx(5 / 7),
        "mean_length": 10 / 3,
    }
    training = TrainingCaptions([[["a", "red", "bird"]], [["a", "bird"]]], None)
    novel = Novelty().score(ScoringInput(sentences, words, _training=training))
    assert novel.totals == {"novel_sentences": pytest.approx(1 / 3)}
    assert novel.annotations["novel"] == [False, False, True]


def test_listed_as_metrics_of_a_third_party_package():
    assert {"lexical", "novelty"} <= set(gvetool.list_metrics())


def test_eval_writes_them_to_metrics_json_predictions_and_the_report(birds, tmp_path):
    run = _train(birds, tmp_path / "runs", "--epochs", "1", "--val-metrics", "cider")
    assert main(["eval", str(run / "best.pt"), "--split", "val"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())["val"]
    assert {
        "vocabulary_usage",
        "distinct_1",
        "distinct_2",
        "mean_length",
        "novel_sentences",
        "CIDEr",
    } <= set(metrics)
    assert 0 <= metrics["distinct_2"] <= 1 and 0 <= metrics["novel_sentences"] <= 1
    predictions = json.loads((run / "predictions" / "val.json").read_text())
    assert all(isinstance(p["novel"], bool) and "length" in p["scores"] for p in predictions)
    report = (run / "report.html").read_text()
    assert "distinct_2" in report and "novel_sentences" in report
    assert "share of sentences that are no training caption" in report  # the legend
    only = tmp_path / "only"
    assert (
        main(
            [
                "eval",
                str(run / "best.pt"),
                "--split",
                "val",
                "--metrics",
                "cider,lexical",
                "--out",
                str(only),
            ]
        )
        == 0
    )
    chosen = json.loads((only / "metrics.json").read_text())["val"]
    assert "distinct_2" in chosen and "CIDEr" in chosen
    assert "BLEU-4" not in chosen and "novel_sentences" not in chosen


def test_val_metrics_lexical_chooses_best_pt_by_distinct_2(birds, tmp_path):
    run = _train(birds, tmp_path / "runs", "--epochs", "5", "--val-metrics", "lexical")
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    scores = [h["val"]["distinct_2"] for h in history]
    assert "CIDEr" not in history[0]["val"]
    best = load_checkpoint(run / "best.pt")
    assert best["epoch"] - 1 == scores.index(max(scores))
    (summary,) = gvetool.runs(tmp_path / "runs")
    assert summary.best_metric == "distinct_2"
    assert summary.best_score == pytest.approx(max(scores))


def test_novelty_is_refused_as_a_validation_metric_in_one_line(birds, tmp_path, capsys):
    args = ["--epochs", "1", "--val-metrics", "cider,novelty"]
    command = [
        "train",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(birds),
        "--out",
        str(tmp_path / "runs"),
        *TINY,
        *args,
    ]
    assert main(command) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: val_metrics: 'novelty' needs training, which validation after each epoch does "
        "not have; use it in gvetool eval --metrics"
    ]
    assert not (tmp_path / "runs").exists()
