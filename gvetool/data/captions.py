"""Caption datasets and batches for the models, with no per-batch work that grows with data.

All captions of a split are tokenised once into one flat ``int32`` array plus offsets.
A batch is then a handful of vectorised numpy gathers: feature rows from the memory-mapped
store, token ranges from the flat array, padded in one step. Training iterates captions
(one example per caption); evaluation iterates images (all references per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch.utils.data import Dataset

from gvetool.data.corpus import Split
from gvetool.data.features import FeatureStore
from gvetool.data.vocab import Vocabulary
from gvetool.kernel.batch import CaptionBatch


@dataclass
class EncodedCaptions:
    """Every caption of a split, tokenised: ``tokens[offsets[i]:offsets[i+1]]`` is caption i."""

    tokens: np.ndarray  # int32, all captions back to back, each ending with <end>
    offsets: np.ndarray  # int64, len = captions + 1
    image_index: np.ndarray  # int64, the split image each caption describes

    @classmethod
    def from_split(
        cls, split: Split, vocab: Vocabulary, max_len: int | None = None
    ) -> EncodedCaptions:
        """Encode once; ``max_len`` truncates (keeping the end token) for bounded memory."""
        tokens = iter(split.tokens())
        encoded, owners = [], []
        for image, captions in enumerate(split.captions):
            for _ in captions:
                ids = vocab.encode_tokens(next(tokens))
                if max_len is not None and len(ids) > max_len:
                    ids = [*ids[: max_len - 1], vocab.end_id]
                encoded.append(ids)
                owners.append(image)
        lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter(
            (t for ids in encoded for t in ids), dtype=np.int32, count=int(offsets[-1])
        )
        return cls(flat, offsets, np.asarray(owners, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def padded(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens [B, L] padded with 0, lengths [B])`` for the given captions."""
        starts = self.offsets[indices]
        lengths = self.offsets[indices + 1] - starts
        width = int(lengths.max()) if len(indices) else 0
        positions = np.arange(width)
        mask = positions[None, :] < lengths[:, None]
        out = np.zeros((len(indices), width), dtype=np.int64)
        out[mask] = self.tokens[(starts[:, None] + positions[None, :])[mask]]
        return out, lengths


@dataclass
class ImageBatch:
    """A batch of images for generation and evaluation."""

    features: torch.Tensor  # float32 [B, D]
    class_ids: torch.Tensor  # int64 [B]; -1 without classes
    image_index: torch.Tensor  # int64 [B]

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> ImageBatch:
        """On ``device``, with the features in ``dtype`` (the weights' dtype)."""
        moved = ImageBatch(*(getattr(self, f.name).to(device) for f in fields(self)))
        moved.features = moved.features.to(dtype)
        return moved


def batches(count: int, batch_size: int) -> list[np.ndarray]:
    """``range(count)`` in consecutive index batches of at most ``batch_size``, as even as
    they can be (generation and photo encoding walk their inputs so)."""
    return np.array_split(np.arange(count), max(1, -(-count // batch_size))) if count else []


def _class_ids(split: Split) -> np.ndarray:
    if split.class_ids is None:
        return np.full(len(split.image_ids), -1, dtype=np.int64)
    return split.class_ids


def _gather(store: FeatureStore, rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(store.gather(rows))


class CaptionExamples(Dataset[CaptionBatch]):
    """Training examples, one per caption. Fetch whole batches with ``__getitems__``."""

    def __init__(
        self, split: Split, vocab: Vocabulary, store: FeatureStore, max_len: int | None = None
    ) -> None:
        self.split = split
        self.captions = EncodedCaptions.from_split(split, vocab, max_len)
        image_rows = store.rows(split.image_ids, what=f"{split.name} images")
        self.feature_rows = image_rows[self.captions.image_index]
        self.class_ids = _class_ids(split)[self.captions.image_index]
        self.store = store

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> CaptionBatch:
        return self.__getitems__([index])

    def longest_caption(self) -> int:
        """The most tokens of any caption (end token included): a batch's widest."""
        offsets = self.captions.offsets
        return int((offsets[1:] - offsets[:-1]).max()) if len(offsets) > 1 else 0

    def token_count(self, indices: Sequence[int]) -> int:
        """Real tokens (targets, end token included) of the given captions."""
        idx = np.asarray(indices, dtype=np.int64)
        return int((self.captions.offsets[idx + 1] - self.captions.offsets[idx]).sum())

    def __getitems__(self, indices: Sequence[int]) -> CaptionBatch:
        idx = np.asarray(indices, dtype=np.int64)
        tokens, lengths = self.captions.padded(idx)
        return CaptionBatch(
            features=_gather(self.store, self.feature_rows[idx]),
            tokens=torch.from_numpy(tokens),
            lengths=torch.from_numpy(lengths),
            class_ids=torch.from_numpy(self.class_ids[idx]),
            image_index=torch.from_numpy(self.captions.image_index[idx]),
        )


class ImageExamples(Dataset[ImageBatch]):
    """Evaluation examples, one per image; references stay in ``split.captions``."""

    def __init__(self, split: Split, store: FeatureStore) -> None:
        self.split = split
        self.feature_rows = store.rows(split.image_ids, what=f"{split.name} images")
        self.class_ids = _class_ids(split)
        self.store = store

    def __len__(self) -> int:
        return len(self.feature_rows)

    def __getitem__(self, index: int) -> ImageBatch:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> ImageBatch:
        idx = np.asarray(indices, dtype=np.int64)
        return ImageBatch(
            features=_gather(self.store, self.feature_rows[idx]),
            class_ids=torch.from_numpy(self.class_ids[idx]),
            image_index=torch.from_numpy(idx),
        )


def whole_batches(batch: CaptionBatch | ImageBatch) -> CaptionBatch | ImageBatch:
    """DataLoader ``collate_fn``: ``__getitems__`` already built the batch."""
    return batch
