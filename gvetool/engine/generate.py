"""Generating sentences for a whole split, batched."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gvetool.data.captions import ImageExamples, batches
from gvetool.data.vocab import Vocabulary
from gvetool.nn.execution import weight_dtype
from gvetool.utils.progress import progress_bar


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
            batch = images.__getitems__(indices).to(device, weight_dtype(model))
            classes = batch.class_ids
            if class_ids is not None:
                classes = torch.from_numpy(class_ids[indices]).to(device)
            sentences += _sentences(
                model, batch.features, classes, vocab, beam, max_len, length_penalty
            )
            advance(len(indices))
    return sentences


@torch.no_grad()
def generate_from_features(
    model: nn.Module,
    features: torch.Tensor,
    class_ids: np.ndarray,
    vocab: Vocabulary,
    batch_size: int = 64,
    max_len: int = 50,
    beam: int = 1,
    length_penalty: float = 0.0,
    label: str = "generating",
) -> list[str]:
    """A sentence for each row of ``features`` ``[N, D]`` (images from anywhere), as
    :func:`generate_split` makes them for a split's images."""
    model.eval()
    device = next(model.parameters()).device
    sentences: list[str] = []
    with progress_bar(len(features), label) as advance:
        for indices in batches(len(features), batch_size):
            rows = features[torch.from_numpy(indices)].to(device, weight_dtype(model))
            classes = torch.from_numpy(class_ids[indices]).to(device)
            sentences += _sentences(model, rows, classes, vocab, beam, max_len, length_penalty)
            advance(len(indices))
    return sentences


def _sentences(
    model: nn.Module,
    features: torch.Tensor,
    classes: torch.Tensor,
    vocab: Vocabulary,
    beam: int,
    max_len: int,
    length_penalty: float,
) -> list[str]:
    classes = classes.clamp(min=0)  # datasets without classes mark them -1
    if beam > 1:
        tokens, _ = model.beam_search(features, classes, beam, max_len, length_penalty)
    else:
        tokens, _ = model.generate(features, classes, max_len, greedy=True)
    return [vocab.decode(row) for row in tokens.cpu().tolist()]
