"""The word vocabulary: built from training captions, stored as JSON (never pickle).

Index 0 is padding so that padded batches can be masked by ``tokens != 0``; start, end and
unknown follow. A vocabulary travels inside every checkpoint, so a model is always decoded
with the words it was trained on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gvetool.data.tokenize import tokenize, tokenize_captions
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import read_json, write_json

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
FORMAT = "gvetool-vocabulary/1"


@dataclass(frozen=True)
class Vocabulary:
    """An ordered word list; ``words[i]`` is the token with id ``i``."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.words[: len(SPECIALS)] != SPECIALS:
            raise GvetoolError(f"vocabulary must start with {', '.join(SPECIALS)}")
        if len(set(self.words)) != len(self.words):
            raise GvetoolError("vocabulary has duplicate words")
        object.__setattr__(self, "_index", {word: i for i, word in enumerate(self.words)})

    pad_id, start_id, end_id, unk_id = 0, 1, 2, 3

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Words seen at least ``min_count`` times, most frequent first (ties by spelling)."""
        return cls.from_tokens(tokenize_captions(list(captions)), min_count)

    @classmethod
    def from_tokens(cls, token_lists: Iterable[list[str]], min_count: int = 1) -> Vocabulary:
        """:meth:`build` from captions that are already tokenised."""
        if min_count < 1:
            raise GvetoolError(f"min-count must be >= 1, got {min_count}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        frequent = [w for w, c in counts.items() if c >= min_count and w not in SPECIALS]
        kept = sorted(frequent, key=lambda w: (-counts[w], w))
        return cls(SPECIALS + tuple(kept))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index  # type: ignore[attr-defined]

    def id(self, word: str) -> int:
        return self._index.get(word, self.unk_id)  # type: ignore[attr-defined,no-any-return]

    def encode(self, caption: str) -> list[int]:
        """Token ids of ``caption`` followed by the end token (no start token)."""
        return self.encode_tokens(tokenize(caption))

    def encode_tokens(self, tokens: Iterable[str]) -> list[int]:
        """:meth:`encode` of an already tokenised caption."""
        get, unk = self._index.get, self.unk_id  # type: ignore[attr-defined]
        return [get(token, unk) for token in tokens] + [self.end_id]  # no call per token

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Words up to the first end token, skipping padding and start."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i not in (self.pad_id, self.start_id):
                words.append(self.words[i])
        return " ".join(words)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "words": list(self.words)}

    @classmethod
    def from_dict(cls, data: Any, source: str = "vocabulary") -> Vocabulary:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise GvetoolError(f"{source} is not a gvetool vocabulary ({FORMAT})")
        return cls(tuple(data["words"]))

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls.from_dict(read_json(path), source=str(path))
