"""Metrics as plugins: declared once, chosen by name, skipped alone, ranking best.pt."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gvetool.cli import main
from gvetool.config.resolution import Best
from gvetool.engine.checkpoint import load_checkpoint
from gvetool.evaluation.scoring import Scorer, scoring_input
from gvetool.kernel.manager import DISABLE_ENV, get_plugins, reset_plugins
from gvetool.kernel.specs import MetricSpec
from gvetool.utils.errors import GvetoolError

ROOT = Path(__file__).parents[1]
SMALL = ["--hidden-size", "16", "--embedding-size", "16", "--batch-size", "8", "--lr", "0.02"]

TOY = """
from gvetool.plugin_api import MetricResult, MetricSpec, MetricUnavailable, hookimpl

class Words:
    def score(self, scoring):
        lengths = [len(w) for w in scoring.words]
        return MetricResult({"mean_words": sum(lengths) / len(lengths)})

    def close(self):
        pass

class Broken:
    def score(self, scoring):
        raise MetricUnavailable("its server is down")

    def close(self):
        pass

@hookimpl
def gvetool_register_metrics(register):
    register(MetricSpec(name="shortest", description="fewest words", target=Words,
                        needs=frozenset(), keys=("mean_words",), best="mean_words",
                        higher_is_better=False))
    register(MetricSpec(name="broken", description="always down", target=Broken,
                        needs=frozenset(), keys=("never",)))
"""


@pytest.fixture(autouse=True)
def _built_ins_only(monkeypatch):
    """The metric plugins of plugins/ are installed beside the core; these tests list
    and count the built-ins (and the toy package they install) alone."""
    monkeypatch.setenv(DISABLE_ENV, "lexical")
    reset_plugins()


def test_every_built_in_metric_key_is_spelled_only_in_the_metric_package():
    keys = {key for spec in get_plugins().metrics.in_order() for key in spec.keys}
    keys |= {"bleu", "meteor", "rouge", "cider", "spice"}  # names that mean nothing else
    alternatives = "|".join(re.escape(k) for k in sorted(keys))
    quoted = re.compile(rf"""["']({alternatives})["']""")
    allowed = {ROOT / "gvetool" / "evaluation" / "repetition.py"}  # the measure it wraps
    metrics = ROOT / "gvetool" / "builtins" / "metrics"
    found = {
        str(path.relative_to(ROOT)): quoted.findall(path.read_text())
        for path in (ROOT / "gvetool").rglob("*.py")
        if metrics not in path.parents and path not in allowed
    }
    assert {path: names for path, names in found.items() if names} == {}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["eval", "nowhere.pt", "--metrics", "cidr"],
            "error: unknown metric 'cidr'; known metrics: bleu, cider, explanation, judge, meteor, "
            "relevance, repetition, rouge, spice. Did you mean 'cider'?",
        ),
        (
            ["train", "lrcn", "--dataset", "cub", "--val-metrics", "repetition"],
            "error: val_metrics: none of repetition can pick best.pt; add one of bleu, meteor, "
            "rouge, cider, spice",
        ),
        (
            ["train", "lrcn", "--dataset", "cub", "--val-metrics", "cider,judge"],
            "error: val_metrics: 'judge' needs classes, training, which validation after each "
            "epoch does not have; use it in gvetool eval --metrics",
        ),
    ],
)
def test_a_metric_that_cannot_be_used_is_one_line_before_any_work(argv, message, capsys):
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == message


def test_best_follows_the_metrics_direction():
    lower = Best("loss", higher_is_better=False)
    assert lower.best_of([3.0, 1.0, 2.0]) == 1.0 and lower.better(0.5, 1.0)
    assert Best("CIDEr").best_of([0.1, float("nan"), 0.3, 0.3]) == 0.3
    assert not Best("CIDEr").better(float("nan"), None)


def test_a_spec_refuses_keys_it_does_not_write_and_unknown_needs():
    with pytest.raises(ValueError, match="'BLEU-5' is not one of its keys"):
        MetricSpec(name="b", description="", target="m:a", keys=("BLEU-4",), best="BLEU-5")
    with pytest.raises(ValueError, match="unknown need 'images'"):
        MetricSpec(name="b", description="", target="m:a", keys=("x",), needs=frozenset({"images"}))


def test_a_failing_metric_is_skipped_with_one_warning_and_the_others_run(fake_dist, capsys):
    fake_dist("gvetool-toy-metrics", "toy_metrics", TOY)
    scorer = Scorer(["broken", "shortest", "repetition", "relevance"], asked=False)
    scoring = scoring_input(["a bird", "a red bird sings"], None, False, scorer.needs)
    for _ in range(2):  # a scorer reused every epoch warns once
        scores = scorer.score(scoring)
    assert scores.totals["mean_words"] == 3.0 and "repeated_trigram_share" in scores.totals
    assert scores.skipped == {
        "broken": "broken skipped: its server is down",
        "relevance": "relevance skipped: the dataset has no classes",
    }
    err = capsys.readouterr().err
    assert err.count("broken skipped") == 1 and "relevance" not in err  # not asked for by name


def test_a_lower_is_better_plugin_metric_picks_best_pt(fake_dist, tiny_cub_master, tmp_path):
    fake_dist("gvetool-toy-metrics", "toy_metrics", TOY)
    args = [
        "train",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--out",
        str(tmp_path),
        "--epochs",
        "4",
        "--val-metrics",
        "shortest,bleu",
    ]
    assert main([*args, *SMALL]) == 0
    run = next(tmp_path.glob("lrcn-cub-*"))
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    words = [h["val"]["mean_words"] for h in history]
    assert load_checkpoint(run / "best.pt")["epoch"] - 1 == words.index(min(words))
    assert 'val_metrics = "shortest,bleu"' in (run / "config.toml").read_text()


FAULTY = """
from gvetool.plugin_api import MetricResult, MetricSpec, hookimpl

class NoClose:  # the docs ask only for score()
    def score(self, scoring):
        return MetricResult({"words": float(len(scoring.words))})

class Boom:
    def score(self, scoring):
        raise RuntimeError("boom in my metric")

class Extra:
    def score(self, scoring):
        return MetricResult({"declared": 1.0, "undeclared": 2.0})

@hookimpl
def gvetool_register_metrics(register):
    register(MetricSpec(name="noclose", description="no close", target=NoClose,
                        needs=frozenset(), keys=("words",), best="words"))
    register(MetricSpec(name="boom", description="raises", target=Boom,
                        needs=frozenset(), keys=("bang",), best="bang"))
    register(MetricSpec(name="extra", description="more keys", target=Extra,
                        needs=frozenset(), keys=("declared",)))
"""


def _scored(names: list[str]) -> dict[str, float]:
    scorer = Scorer(names)
    try:
        return scorer.score(scoring_input(["a bird"], None, False, scorer.needs)).totals
    finally:
        scorer.close()


def test_a_metric_without_close_works(fake_dist):
    fake_dist("gvetool-faulty", "faulty_metrics", FAULTY)
    assert _scored(["noclose"]) == {"words": 1.0}


def test_a_failing_metric_is_named_with_its_package(fake_dist):
    fake_dist("gvetool-faulty", "faulty_metrics", FAULTY)
    with pytest.raises(GvetoolError) as failed:
        _scored(["boom"])
    assert str(failed.value) == (
        "metric 'boom' from package 'gvetool-faulty' failed: RuntimeError: boom in my metric"
    )


def test_keys_a_metric_does_not_declare_are_refused(fake_dist):
    fake_dist("gvetool-faulty", "faulty_metrics", FAULTY)
    with pytest.raises(GvetoolError, match="metric 'extra' from package 'gvetool-faulty' "):
        _scored(["extra"])
    with pytest.raises(GvetoolError, match=re.escape("'undeclared', which its MetricSpec.keys")):
        _scored(["extra"])


def test_the_cli_says_a_failing_metric_in_one_line_and_exit_1(fake_dist, tiny_cub, capsys):
    fake_dist("gvetool-faulty", "faulty_metrics", FAULTY)
    args = ["train", "lrcn", "--dataset", "cub", "--data-root", str(tiny_cub)]
    args += ["--out", str(tiny_cub.parent / "runs"), "--epochs", "1", "--val-metrics", "boom"]
    assert main([*args, *SMALL]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "error: metric 'boom' from package 'gvetool-faulty' failed: RuntimeError: boom in my metric"
    )
    assert not (tiny_cub.parent / "runs").exists()  # checked before any run folder
