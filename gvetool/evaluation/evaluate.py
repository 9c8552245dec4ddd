"""Evaluating a captioning checkpoint on a split: sentences, caption metrics, class relevance.

The pieces a paper reports, computed once per split: greedy or beam-search sentences for
every image; BLEU/METEOR/ROUGE-L/CIDEr(-D)/SPICE through pycocoevalcap; and, on datasets
with classes, the GVE paper's class-relevance measures. Class-conditioned models (GVE) also
explain each image as its most-confused other class (the counterfactual).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gvetool.config import TrainConfig, beside_run, relocated, written_in
from gvetool.data.captions import ImageExamples
from gvetool.data.corpus import Corpus, Split
from gvetool.data.encoder import ExtractionOptions, build_encoder
from gvetool.data.open import open_configured
from gvetool.data.tokenize import sentence_tokens
from gvetool.data.vocab import Vocabulary
from gvetool.engine.checkpoint import load_checkpoint, model_from_checkpoint
from gvetool.engine.distributed import checked_device
from gvetool.engine.generate import batches, generate_split
from gvetool.engine.rundir import find_runs, run_dir_of
from gvetool.errors import CheckpointError, DataError, GvetoolError
from gvetool.evaluation.scoring import (
    Scorer,
    Scores,
    ScoringInput,
    TrainingCaptions,
    default_evaluation_metrics,
    parse_names,
    scoring_input,
)
from gvetool.plugins import get_plugins
from gvetool.tasks import CLASSIFICATION


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


@dataclass
class Loaded:
    """A checkpoint with the data it is evaluated on."""

    checkpoint: dict[str, Any]
    config: TrainConfig
    corpus: Corpus
    split: Split
    images: ImageExamples
    model: torch.nn.Module
    vocab: Vocabulary
    class_conditioned: bool


@dataclass
class Trained:
    """A captioning checkpoint loaded with its model, without its dataset: enough to
    describe features from anywhere (photos through the run's encoder)."""

    path: Path
    checkpoint: dict[str, Any]
    config: TrainConfig  # its paths found again if the run moved; data_root as asked
    model: torch.nn.Module
    vocab: Vocabulary
    class_conditioned: bool
    data_root_given: bool = False

    @property
    def class_names(self) -> list[str]:
        return list(self.checkpoint["class_names"] or [])


def load_trained(path: Path, data_root: Path | None, device: str) -> Trained:
    """Open a captioning checkpoint (refusing any other kind) and build its model."""
    checked_device(device)
    checkpoint = load_checkpoint(path)
    spec = get_plugins().models.get(checkpoint["model"])
    if not spec.task.generates:
        raise CheckpointError(
            f"{path} is a '{checkpoint.get('model')}' checkpoint; evaluation needs a captioning "
            f"model ({', '.join(get_plugins().captioners())})"
        )
    config = relocated(TrainConfig.from_saved(checkpoint["config"]), run_dir_of(path))
    if data_root is not None:
        config = dataclasses.replace(config, data_root=str(data_root))
    model = model_from_checkpoint(checkpoint).to(device)
    vocab = Vocabulary(tuple(checkpoint["vocabulary"]))
    conditioned = spec.class_conditioned
    return Trained(path, checkpoint, config, model, vocab, conditioned, data_root is not None)


def load_for_evaluation(
    path: Path, split_name: str, data_root: Path | None, cache_dir: Path | None, device: str
) -> Loaded:
    """Open the checkpoint and its dataset, refusing any mismatch between the two."""
    return with_data(load_trained(path, data_root, device), split_name, cache_dir, device)


def with_data(trained: Trained, split_name: str, cache_dir: Path | None, device: str) -> Loaded:
    """``trained`` with the split it is evaluated on and that split's features."""
    path, checkpoint, config = trained.path, trained.checkpoint, trained.config
    if not trained.data_root_given and config.data_root and not os.path.exists(config.data_root):
        saved = TrainConfig.from_saved(checkpoint["config"])
        run_dir = run_dir_of(path)
        beside = beside_run(saved.data_root or "", written_in(saved, run_dir), run_dir)
        raise DataError(
            f"the '{config.dataset}' data this run was trained on is not at {config.data_root} "
            f"(nor at {beside}, beside the run); pass --data-root with its folder"
        )
    corpus = open_configured(config)
    if checkpoint["class_names"] != corpus.class_names:
        ours, theirs = corpus.class_names or [], checkpoint["class_names"] or []
        raise DataError(
            f"the checkpoint's classes ({len(theirs)}) are not dataset '{corpus.name}'s classes "
            f"({len(ours)}) at {corpus.root}; evaluate it on the dataset it was trained on"
        )
    vocab = trained.vocab
    # A transfer keeps its source's words; any other run's must be its training captions'.
    expected = None
    if not config.transfer_from:
        expected = Vocabulary.from_tokens(corpus.vocabulary_source().tokens(), config.min_count)
    if expected is not None and expected != vocab:
        raise DataError(
            f"the checkpoint's vocabulary ({len(vocab)} words) does not match the training "
            f"captions of '{corpus.name}' at {corpus.root} ({len(expected)} words); is this "
            "the dataset it was trained on?"
        )
    split = corpus.split(split_name)
    if split.num_captions == 0:
        raise GvetoolError(f"split '{split_name}' of '{corpus.name}' has no reference captions")
    provider = build_encoder(config.encoder, **config.encoder_options())
    store = provider.open_store(corpus, cache_dir, ExtractionOptions(device=device))
    if store.dim != checkpoint["feature_dim"]:
        raise DataError(
            f"the checkpoint expects {checkpoint['feature_dim']}-d features, the "
            f"'{config.encoder}' features of '{corpus.name}' are {store.dim}-d"
        )
    return Loaded(
        checkpoint, config, corpus, split, ImageExamples(split, store), trained.model, vocab,
        trained.class_conditioned,
    )  # fmt: skip


def describe(
    loaded: Loaded,
    class_ids: np.ndarray | None = None,
    beam: int = 1,
    max_len: int = 50,
    batch_size: int = 64,
    length_penalty: float = 0.0,
    label: str = "generating",
) -> list[str]:
    """A sentence per image of the loaded split (for ``class_ids`` instead of the true ones)."""
    device = next(loaded.model.parameters()).device
    return generate_split(
        loaded.model, loaded.images, loaded.vocab, device, batch_size, max_len,
        class_ids, beam, length_penalty, label,
    )  # fmt: skip


def find_sentence_classifier(
    path: Path, loaded: Loaded | Trained, sc_ckpt: Path | None
) -> Path | None:
    """``--sc-ckpt``, else the one the explainer trained with, else the newest matching run."""
    if sc_ckpt is not None:
        return sc_ckpt
    run_dir = run_dir_of(path)
    used = loaded.checkpoint.get("sentence_classifier")
    if used:
        written = written_in(TrainConfig.from_saved(loaded.checkpoint["config"]), run_dir)
        for candidate in (used, beside_run(used, written, run_dir)):
            if Path(candidate).is_file():
                return Path(candidate)
    models = get_plugins().models
    spec = models.get(loaded.checkpoint["model"])
    names = [spec.reward_model] if spec.reward_model else models.names()
    for name in names:
        if models.get(name).task is CLASSIFICATION:
            runs = find_runs(run_dir.parent, name, loaded.config.dataset,
                             loaded.checkpoint["class_names"])  # fmt: skip
            if runs:
                return runs[0] / "best.pt"
    return None


@torch.no_grad()
def classify(sc_path: Path, sentences: list[str], batch_size: int = 256) -> np.ndarray:
    """Class logits of a frozen sentence classifier for each sentence."""
    checkpoint = load_checkpoint(sc_path, expect_task=CLASSIFICATION)
    classifier = model_from_checkpoint(checkpoint)
    vocab = Vocabulary(tuple(checkpoint["vocabulary"]))
    out = []
    for indices in batches(len(sentences), batch_size):
        encoded = [vocab.encode_tokens(sentence_tokens(sentences[i])) for i in indices]
        lengths = torch.tensor([len(e) for e in encoded])
        tokens = torch.zeros(len(encoded), int(lengths.max()), dtype=torch.long)
        for row, ids in enumerate(encoded):
            tokens[row, : len(ids)] = torch.tensor(ids)
        out.append(classifier(tokens, lengths).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(checkpoint["class_names"])))


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
                _counterfactuals(evaluation, loaded, scoring.classifier_logits, beam, max_len,
                                 batch_size, length_penalty)  # fmt: skip
    evaluation.metrics["images"] = len(sentences)
    evaluation.metrics["seconds"] = round(time.perf_counter() - started, 2)
    evaluation.metrics["decoding"] = decoded  # type: ignore[assignment]
    return evaluation


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
    counterfactual = describe(loaded, confused[true], beam, max_len, batch_size, length_penalty,
                              label="counterfactuals")  # fmt: skip
    for i, prediction in enumerate(evaluation.predictions):
        prediction["counterfactual"] = {"class": names[confused[true[i]]],
                                        "caption": counterfactual[i]}  # fmt: skip


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
