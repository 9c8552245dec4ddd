"""The independent judge: scikit-learn's TF-IDF + logistic regression, cached as arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gvetool.cli import main
from gvetool.evaluation import judge as judge_module
from gvetool.evaluation.judge import Judge, judge_for
from gvetool.evaluation.relevance import top_k_accuracy

from .test_train import _train

SENTENCES = [
    "a red bird with a red crown",
    "red crown and red wings",
    "a small red bird",
    "a blue bird with blue wings",
    "blue wings and a long tail",
    "this blue bird is small",
    "a yellow bird with a short bill",
    "yellow breast and short bill",
    "a yellow small bird",
]
CLASSES = [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_its_logits_are_scikit_learns_decision_function():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    tokens = [s.split() for s in SENTENCES]
    judge = Judge.fit(tokens, CLASSES, 3)
    vectorizer = TfidfVectorizer(analyzer=judge_module._features, lowercase=False)
    model = LogisticRegression(C=judge_module.REGULARISATION, max_iter=judge_module.MAX_ITERATIONS)
    model.fit(vectorizer.fit_transform(tokens), CLASSES)
    new = [s.split() for s in ["a red bird with blue wings", "short yellow bill", "zebra"]]
    expected = model.decision_function(vectorizer.transform(new))
    np.testing.assert_allclose(judge.logits(new), expected, rtol=1e-10, atol=1e-12)
    assert judge.logits(new)[:2].argmax(1).tolist() == [0, 2]


def test_a_class_without_training_sentences_is_never_predicted():
    tokens = [s.split() for s in SENTENCES]
    missing_middle = [0, 0, 0, 3, 3, 3, 2, 2, 2]  # classes 1 and 4 absent
    judge = Judge.fit(tokens, missing_middle, 5)
    new = [s.split() for s in ["a red bird", "blue wings and a long tail", "short yellow bill"]]
    logits = judge.logits(new)
    assert logits.shape == (3, 5)
    assert np.isneginf(logits[:, [1, 4]]).all()
    assert logits.argmax(1).tolist() == [0, 3, 2]
    assert top_k_accuracy(logits, [1, 3, 4], 5) == pytest.approx(1 / 3)  # only the seen class


def test_two_classes_rank_as_scikit_learns_prediction():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    tokens = [s.split() for s in SENTENCES[:6]]
    classes = [2, 2, 2, 0, 0, 0]
    judge = Judge.fit(tokens, classes, 3)
    vectorizer = TfidfVectorizer(analyzer=judge_module._features, lowercase=False)
    model = LogisticRegression(C=judge_module.REGULARISATION, max_iter=judge_module.MAX_ITERATIONS)
    model.fit(vectorizer.fit_transform(tokens), classes)
    new = [s.split() for s in ["a red bird", "blue wings", "a small bird", "zebra"]]
    expected = model.predict(vectorizer.transform(new))
    assert judge.logits(new).argmax(1).tolist() == expected.tolist()
    assert judge.logits(new)[:2].argmax(1).tolist() == [2, 0]


def test_one_class_is_a_constant_judge():
    judge = Judge.fit([s.split() for s in SENTENCES[:3]], [1, 1, 1], 2)
    assert judge.logits([["red"], ["blue"]]).argmax(1).tolist() == [1, 1]


def test_it_is_fitted_once_per_training_set_and_cached_without_pickles(monkeypatch, tmp_path):
    tokens = [s.split() for s in SENTENCES]
    first = judge_for(tokens, CLASSES, 3)
    (cached,) = (tmp_path / "gvetool-home" / "judges").glob("*.npz")
    with np.load(cached, allow_pickle=False) as arrays:
        assert set(arrays) == {"vocabulary", "idf", "coef", "intercept"}
    monkeypatch.setattr(Judge, "fit", lambda *a: pytest.fail("fitted again"))
    np.testing.assert_array_equal(judge_for(tokens, CLASSES, 3).coef, first.coef)
    with pytest.raises(pytest.fail.Exception, match="fitted again"):
        judge_for(tokens, [2, 0, 0, 1, 1, 1, 2, 2, 2], 3)  # other classes: another judge


@pytest.fixture(scope="module")
def two_classifiers(tiny_cub_master, tmp_path_factory):
    out = tmp_path_factory.mktemp("judged")
    first = _train(tiny_cub_master, out, "sc")
    second = _train(tiny_cub_master, out, "sc", "--seed", "5", "--hidden-size", "8")
    gve = _train(tiny_cub_master, out, "gve", "--sc-ckpt", str(first / "best.pt"))
    return gve, first, second


def test_the_judge_is_never_the_rewarding_classifier(two_classifiers, tmp_path):
    """Evaluated with two different sentence classifiers, the judge's numbers stay put."""
    gve, first, second = two_classifiers
    results = []
    for index, sc in enumerate((first, second)):
        out = tmp_path / str(index)
        assert main(["eval", str(gve), "--out", str(out), "--sc-ckpt", str(sc / "best.pt")]) == 0
        results.append(json.loads((out / "metrics.json").read_text())["test"])
    assert results[0]["judge_top1"] == results[1]["judge_top1"]
    assert results[0]["judge_top5"] == results[1]["judge_top5"]
    assert results[0]["sentence_classifier"] != results[1]["sentence_classifier"]
    predictions = json.loads((tmp_path / "0" / "predictions" / "test.json").read_text())
    assert "judged_as" in predictions[0]
    report = (tmp_path / "0" / "report.html").read_text()
    assert "judge_top1" in report and "independent" in report
