"""Evaluating a captioning checkpoint on a split: sentences, caption metrics, class relevance.

The pieces a paper reports, computed once per split: greedy or beam-search sentences for
every image; BLEU/METEOR/ROUGE-L/CIDEr(-D)/SPICE through pycocoevalcap; and, on datasets
with classes, the GVE paper's class-relevance measures. Class-conditioned models (GVE) also
explain each image as its most-confused other class (the counterfactual).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gvetool.data.corpus import Split
from gvetool.engine.rundir import run_dir_of
from gvetool.evaluation.scoring import (
    Scorer,
    Scores,
    ScoringInput,
    TrainingCaptions,
    default_evaluation_metrics,
    parse_names,
    scoring_input,
)
from gvetool.evaluation.trained import (
    Loaded,
    classify,
    describe,
    find_sentence_classifier,
    load_for_evaluation,
)
from gvetool.utils.errors import GvetoolError


@dataclass
class Evaluation:
    """Everything one evaluation produced; ``metrics`` is what ``metrics.json`` holds."""

    model: str
    dataset: str
    split: str
    metrics: dict[str, float]
    predictions: list[dict[str, Any]]
    per_class: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    image_paths: list[Path] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # the run's metrics.jsonl
    report: Path | None = None  # report.html, once written


def run_history(path: Path, checkpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """Every epoch of the checkpoint's run: its ``metrics.jsonl`` where the run directory
    has one (``best.pt``'s own history stops at the best epoch), else the checkpoint's."""
    folder = run_dir_of(path)
    metrics = folder / "metrics.jsonl"
    if metrics.is_file():
        try:
            return [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        except (OSError, ValueError):
            pass  # unreadable: fall back to the history inside the checkpoint
    return list(checkpoint.get("metrics") or [])


def evaluate(
    path: Path,
    split_name: str = "test",
    beam: int = 1,
    max_len: int = 50,
    data_root: Path | None = None,
    sc_ckpt: Path | None = None,
    batch_size: int = 64,
    length_penalty: float = 0.0,
    device: str = "cpu",
    cache_dir: Path | None = None,
    metrics: tuple[str, ...] | None = None,
) -> Evaluation:
    """Evaluate the captioning checkpoint at ``path`` on ``split_name`` with the metric
    plugins ``metrics`` (default: every one registered for evaluation)."""
    decoded = decoding(beam, max_len, length_penalty)
    names = parse_names(default_evaluation_metrics() if metrics is None else metrics)
    started = time.perf_counter()
    loaded = load_for_evaluation(path, split_name, data_root, cache_dir, device)
    sentences = describe(loaded, None, beam, max_len, batch_size, length_penalty)
    scorer = Scorer(names, asked=metrics is not None)
    try:
        scoring, sc_path = _scoring_input(loaded, sentences, path, sc_ckpt, scorer.needs)
        scores = scorer.score(scoring)
    finally:
        scorer.close()
    split, corpus = loaded.split, loaded.corpus
    evaluation = Evaluation(
        loaded.checkpoint["model"],
        corpus.name,
        split.name,
        scores.totals,
        _predictions(loaded, sentences, scores),
        skipped=scores.skipped,
        image_paths=[corpus.image_path(split, i) for i in range(len(sentences))],
        history=run_history(path, loaded.checkpoint),
    )
    if scoring.class_ids is not None and scoring.class_names:
        evaluation.per_class = scores.class_rows(scoring.class_ids, scoring.class_names)
        if scoring.classifier_logits is not None and sc_path is not None:
            evaluation.metrics["sentence_classifier"] = str(sc_path.absolute())  # type: ignore[assignment]
            if loaded.class_conditioned:
                _counterfactuals(
                    evaluation,
                    loaded,
                    scoring.classifier_logits,
                    beam,
                    max_len,
                    batch_size,
                    length_penalty,
                )
    evaluation.metrics["images"] = len(sentences)
    evaluation.metrics["seconds"] = round(time.perf_counter() - started, 2)
    evaluation.metrics["decoding"] = decoded  # type: ignore[assignment]
    evaluation.metrics["checkpoint"] = checkpoint_identity(path, loaded.checkpoint)  # type: ignore[assignment]
    return evaluation


def checkpoint_identity(path: Path, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Which weights an evaluation scored: the file and how far its run had trained (a
    ``last.pt`` written again later is another checkpoint)."""
    return {
        "path": str(path.absolute()),
        "epoch": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
    }


def decoding(beam: int, max_len: int, length_penalty: float) -> dict[str, Any]:
    """How an evaluation's sentences were decoded, as ``metrics.json`` records it; an
    impossible setting is refused here, before any work."""
    if not math.isfinite(length_penalty):
        raise GvetoolError(f"--length-penalty must be a finite number, got {length_penalty}")
    return {"beam": beam, "max_len": max_len, "length_penalty": float(length_penalty)}


def _scoring_input(
    loaded: Loaded, sentences: list[str], path: Path, sc_ckpt: Path | None, needs: set[str]
) -> tuple[ScoringInput, Path | None]:
    """What the metrics need of this evaluation, each part computed only if one needs it
    (the counterfactuals of a class-conditioned model need the classifier's logits too),
    and the sentence classifier that gave the logits."""
    split, corpus = loaded.split, loaded.corpus
    given: dict[str, Any] = {"missing": {}}
    given["load_training"] = lambda: training_captions(corpus.split("train"))
    sc_path = None
    if _has_classes(loaded):
        given["class_ids"], given["class_names"] = split.class_ids, list(corpus.class_names or [])
        if "classifier" in needs or loaded.class_conditioned:
            sc_path = find_sentence_classifier(path, loaded, sc_ckpt)
            if sc_path is None:
                given["missing"]["classifier"] = "no sentence classifier found (pass --sc-ckpt)"
            else:
                given["classifier_logits"] = classify(sc_path, sentences)
    return scoring_input(sentences, split.captions, True, needs, **given), sc_path


def _has_classes(loaded: Loaded) -> bool:
    return loaded.split.class_ids is not None and bool(loaded.corpus.class_names)


def training_captions(train: Split) -> TrainingCaptions:
    """The training split's tokens (tokenised once per split, shared with the vocabulary
    check), grouped by image."""
    classes = None if train.class_ids is None else np.asarray(train.class_ids)
    return TrainingCaptions(train.tokens_by_image(), classes)


def _predictions(loaded: Loaded, sentences: list[str], scores: Scores) -> list[dict[str, Any]]:
    """A record per image: its sentence, every per-image score and annotation, and, on a
    dataset with classes, its class and references."""
    split, names = loaded.split, loaded.corpus.class_names or []
    predictions = []
    for i, (image_id, sentence) in enumerate(zip(split.image_ids, sentences, strict=True)):
        prediction: dict[str, Any] = {
            "image_id": image_id,
            "caption": sentence,
            "scores": {key: values[i] for key, values in scores.per_image.items()},
        }
        if _has_classes(loaded):
            prediction["class"] = names[split.class_ids[i]]
            prediction["references"] = split.captions[i]
        prediction.update({key: values[i] for key, values in scores.annotations.items()})
        predictions.append(prediction)
    return predictions


def _counterfactuals(
    evaluation: Evaluation,
    loaded: Loaded,
    logits: np.ndarray,
    beam: int,
    max_len: int,
    batch_size: int,
    length_penalty: float,
) -> None:
    """Each image explained as the class its true class's explanations are most often
    taken for by the sentence classifier."""
    names, true = loaded.corpus.class_names or [], loaded.split.class_ids
    confused = _most_confused(logits, true, len(names))
    counterfactual = describe(
        loaded, confused[true], beam, max_len, batch_size, length_penalty, label="counterfactuals"
    )
    for i, prediction in enumerate(evaluation.predictions):
        prediction["counterfactual"] = {
            "class": names[confused[true[i]]],
            "caption": counterfactual[i],
        }


def _most_confused(logits: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """For each class, the other class its explanations are most often taken for.

    Measured as the highest mean classifier probability among the other classes over that
    class's explanations (defined even when no explanation was misclassified).
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    confused = np.zeros(num_classes, dtype=np.int64)
    for c in range(num_classes):
        members = true == c
        mean = probs[members].mean(axis=0) if members.any() else probs.mean(axis=0)
        mean[c] = -1.0
        confused[c] = int(mean.argmax())
    return confused
