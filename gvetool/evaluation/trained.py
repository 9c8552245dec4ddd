"""A trained captioning run opened for use: its model and vocabulary from a checkpoint,
with the dataset split it is evaluated on when one is needed, and its sentence classifier.

Evaluation and the explainer both start here; a run on an image encoder opens without its
dataset, so it can describe photos.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gvetool.config.relocation import beside_run, relocated, written_in
from gvetool.config.schema import TrainConfig
from gvetool.data.captions import ImageExamples, batches
from gvetool.data.corpus import Corpus, Split
from gvetool.data.image_features import ExtractionOptions, build_encoder
from gvetool.data.open import open_configured
from gvetool.data.tokenize import sentence_tokens
from gvetool.data.vocab import Vocabulary
from gvetool.engine.checkpoint import load_checkpoint, model_from_checkpoint
from gvetool.engine.distributed import checked_device
from gvetool.engine.generate import generate_split
from gvetool.engine.rundir import find_runs, run_dir_of
from gvetool.kernel.manager import get_plugins
from gvetool.kernel.tasks import CLASSIFICATION
from gvetool.utils.errors import CheckpointError, DataError, GvetoolError


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
        checkpoint,
        config,
        corpus,
        split,
        ImageExamples(split, store),
        trained.model,
        vocab,
        trained.class_conditioned,
    )


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
        loaded.model,
        loaded.images,
        loaded.vocab,
        device,
        batch_size,
        max_len,
        class_ids,
        beam,
        length_penalty,
        label,
    )


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
            runs = find_runs(
                run_dir.parent, name, loaded.config.dataset, loaded.checkpoint["class_names"]
            )
            if runs:
                return runs[0] / "best.pt"
    return None


@dataclass(frozen=True)
class SentenceReader:
    """A frozen sentence classifier loaded once, with its vocabulary: a caller that reads
    sentences again and again (the explorer, per request) loads the checkpoint once."""

    classifier: torch.nn.Module
    vocab: Vocabulary
    num_classes: int

    @torch.no_grad()
    def logits(self, sentences: list[str], batch_size: int = 256) -> np.ndarray:
        """Class logits for each sentence."""
        out = []
        for indices in batches(len(sentences), batch_size):
            encoded = [self.vocab.encode_tokens(sentence_tokens(sentences[i])) for i in indices]
            lengths = torch.tensor([len(e) for e in encoded])
            tokens = torch.zeros(len(encoded), int(lengths.max()), dtype=torch.long)
            for row, ids in enumerate(encoded):
                tokens[row, : len(ids)] = torch.tensor(ids)
            out.append(self.classifier(tokens, lengths).float().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.num_classes))


def load_reader(sc_path: Path) -> SentenceReader:
    """The sentence classifier at ``sc_path``, ready to read sentences."""
    checkpoint = load_checkpoint(sc_path, expect_task=CLASSIFICATION)
    return SentenceReader(
        model_from_checkpoint(checkpoint),
        Vocabulary(tuple(checkpoint["vocabulary"])),
        len(checkpoint["class_names"]),
    )


def classify(sc_path: Path, sentences: list[str], batch_size: int = 256) -> np.ndarray:
    """Class logits of a frozen sentence classifier for each sentence."""
    return load_reader(sc_path).logits(sentences, batch_size)
