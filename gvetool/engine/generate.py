"""Generating sentences for a whole split, batched."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gvetool.data.captions import ImageExamples
from gvetool.data.vocab import Vocabulary
from gvetool.models.execution import weight_dtype
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
            batch = images.__getitems__(indices).to(device, weight_dtype(model))
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
