"""Generating sentences for a whole split, batched, and scoring them."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gvetool.data.captions import CaptionExamples, ImageExamples
from gvetool.data.vocab import Vocabulary
from gvetool.evaluation.metrics import CaptionScorer
from gvetool.progress import progress_bar


def batches(count: int, batch_size: int) -> list[np.ndarray]:
    return np.array_split(np.arange(count), max(1, -(-count // batch_size))) if count else []


@torch.no_grad()
def generate_split(
    model: nn.Module,
    images: ImageExamples,
    vocab: Vocabulary,
    device: torch.device,
    batch_size: int,
    max_len: int,
    class_ids: np.ndarray | None = None,
    beam: int = 1,
    length_penalty: float = 0.0,
    label: str = "generating",
) -> list[str]:
    """A sentence for every image of the split, in split order; greedy unless ``beam > 1``.

    ``class_ids`` overrides the true classes (e.g. to explain another class).
    """
    model.eval()
    sentences: list[str] = []
    with progress_bar(len(images), f"{label} ({images.split.name})") as advance:
        for indices in batches(len(images), batch_size):
            batch = images.__getitems__(indices).to(device)
            classes = batch.class_ids
            if class_ids is not None:
                classes = torch.from_numpy(class_ids[indices]).to(device)
            classes = classes.clamp(min=0)  # datasets without classes mark them -1
            if beam > 1:
                tokens, _ = model.beam_search(
                    batch.features, classes, beam, max_len, length_penalty
                )
            else:
                tokens, _ = model.generate(batch.features, classes, max_len, greedy=True)
            sentences.extend(vocab.decode(row) for row in tokens.cpu().tolist())
            advance(len(indices))
    return sentences


def score_captions(
    model: nn.Module,
    images: ImageExamples,
    vocab: Vocabulary,
    scorer: CaptionScorer,
    device: torch.device,
    batch_size: int,
    max_len: int,
) -> dict[str, float]:
    """Corpus-level caption metrics of greedy sentences against the split's references."""
    sentences = generate_split(model, images, vocab, device, batch_size, max_len)
    tokens = iter(images.split.tokens())  # the split's cached tokens, as training saw them
    references = {i: [next(tokens) for _ in refs] for i, refs in enumerate(images.split.captions)}
    totals, _ = scorer.score(references, dict(enumerate(sentences)))
    return totals


@torch.no_grad()
def classification_accuracy(
    model: nn.Module, examples: CaptionExamples, device: torch.device, batch_size: int
) -> dict[str, float]:
    """Top-1 accuracy of a sentence classifier on every caption of a split."""
    model.eval()
    correct = 0
    for indices in batches(len(examples), batch_size):
        batch = examples.__getitems__(indices).to(device)
        correct += int((model(batch.tokens, batch.lengths).argmax(1) == batch.class_ids).sum())
    return {"accuracy": correct / max(1, len(examples))}
