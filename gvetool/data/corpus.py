"""What a dataset plugin returns: a :class:`Corpus` of splits of captioned images.

Everything downstream (vocabulary, feature store, caption batches, evaluation) reads this
one shape, which is why one loader serves CUB, COCO and any plugin dataset alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gvetool.data.tokenize import tokenize_captions
from gvetool.utils.errors import GvetoolError


@dataclass
class Split:
    """One split: parallel per-image lists, in a fixed order."""

    name: str
    image_ids: list[str]
    captions: list[list[str]]
    image_files: list[str]
    class_ids: np.ndarray | None = None  # int64, 0-based, per image; None without classes

    def __post_init__(self) -> None:
        n = len(self.image_ids)
        if len(self.captions) != n or len(self.image_files) != n:
            raise ValueError("image_ids, captions and image_files must have the same length")
        if self.class_ids is not None and len(self.class_ids) != n:
            raise ValueError("class_ids must have one entry per image")

    @property
    def num_captions(self) -> int:
        return sum(len(c) for c in self.captions)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this split's data: a digest of its image ids, classes and
        captions, with the counts to say how it changed."""
        digest = hashlib.sha256()
        classes = self.class_ids.tolist() if self.class_ids is not None else None
        for i, (image_id, captions) in enumerate(zip(self.image_ids, self.captions, strict=True)):
            label = classes[i] if classes is not None else -1
            digest.update(f"{image_id}\t{label}\t{len(captions)}\n".encode())
            digest.update("\n".join(captions).encode() + b"\0")
        return {
            "sha256": digest.hexdigest(),
            "images": len(self.image_ids),
            "captions": self.num_captions,
        }

    def all_captions(self) -> Iterator[str]:
        for captions in self.captions:
            yield from captions

    @cached_property
    def _tokens(self) -> list[list[str]]:
        return tokenize_captions(list(self.all_captions()))

    def tokens(self) -> list[list[str]]:
        """Every caption's tokens, in ``all_captions`` order (PTB tokenizer, cached on disk)."""
        return self._tokens

    def tokens_by_image(self) -> list[list[list[str]]]:
        """:meth:`tokens` grouped as :attr:`captions` is: each image's captions' tokens."""
        tokens = iter(self.tokens())
        return [[next(tokens) for _ in captions] for captions in self.captions]

    def forget_tokens(self) -> None:
        """Drop the tokens held in memory; :meth:`tokens` reads them again from the disk cache.

        Why: once a training split is encoded into integer arrays its token strings are
        dead weight for the rest of a run (about 14 MB for CUB's 70,000 training captions).
        """
        self.__dict__.pop("_tokens", None)


class FeatureSource(Protocol):
    """Precomputed features a dataset ships (e.g. CUB's feature pickle).

    ``fingerprint`` changes whenever the source changes, so a stale feature store is
    rebuilt instead of silently reused. :meth:`read` is called once, when the store is
    built; the store consumes the returned dict destructively, so converting needs about
    one copy of the data in memory.
    """

    name: str
    fingerprint: str

    def read(self) -> dict[str, np.ndarray]: ...


@dataclass
class Corpus:
    """A loaded dataset: its splits, class names and where features come from."""

    name: str
    root: Path
    splits: dict[str, Split]
    class_names: list[str] | None = None
    features: FeatureSource | None = None
    notes: list[str] = field(default_factory=list)
    base: Corpus | None = None  # set on views (class splits, folds): features are the base's
    vocabulary_split: Split | None = None  # captions the vocabulary is built from (default: train)

    def vocabulary_source(self) -> Split:
        """The split whose captions define the vocabulary: folds share the full training
        split's, so every fold (and a fixed sentence classifier) speaks the same words."""
        return self.vocabulary_split or self.split("train")

    @property
    def feature_corpus(self) -> Corpus:
        """The corpus features are computed and stored for: a view shares its base's store."""
        return self.base.feature_corpus if self.base is not None else self

    @property
    def has_classes(self) -> bool:
        return self.class_names is not None

    def split(self, name: str) -> Split:
        if name not in self.splits:
            known = ", ".join(self.splits)
            raise GvetoolError(f"dataset '{self.name}' has no split '{name}'; it has: {known}")
        return self.splits[name]

    def image_path(self, split: Split, index: int) -> Path:
        return self.root / split.image_files[index]
