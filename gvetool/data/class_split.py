"""Class splits: two disjoint sets of classes, and views of a dataset restricted to one.

A split is a small JSON file (class names, ratio, seed) so it can be shared and cited. A
*view* keeps only the images of one part's classes, renumbers their class ids 0..k-1 (in
the original order; names kept) and shares everything else with the full dataset: the
same files, the same feature store, no copies. ``cub1``/``cub2`` are the two parts of the
default split (ratio 0.5, seed 0); ``--class-split FILE:1|2`` applies any split file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from gvetool.data.corpus import Corpus, Split
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import read_json, write_json

FORMAT = "gvetool-class-split/1"
DEFAULT_RATIO, DEFAULT_SEED = 0.5, 0


def make_class_split(class_names: list[str], ratio: float, seed: int) -> dict[str, Any]:
    """Partition the classes: ``round(ratio * n)`` of them (at least one each side) in part 1."""
    if not 0 < ratio < 1:
        raise GvetoolError(f"--ratio must be strictly between 0 and 1, got {ratio}")
    if len(class_names) < 2:
        raise GvetoolError("a class split needs at least 2 classes")
    size = min(max(1, round(ratio * len(class_names))), len(class_names) - 1)
    chosen = set(np.random.default_rng(seed).permutation(len(class_names))[:size].tolist())
    first = [name for i, name in enumerate(class_names) if i in chosen]
    second = [name for i, name in enumerate(class_names) if i not in chosen]
    return {"format": FORMAT, "ratio": ratio, "seed": seed, "parts": [first, second]}


def save_class_split(path: Path, split: dict[str, Any]) -> None:
    write_json(path, split, indent=2)


def load_class_split(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or len(data.get("parts", [])) != 2
    ):
        raise GvetoolError(
            f"{path} is not a gvetool class split ({FORMAT}); make one with `gvetool split classes`"
        )
    return data


def parse_spec(spec: str) -> tuple[Path, int]:
    """``FILE:1`` or ``FILE:2`` -> (path, part)."""
    path, _, part = spec.rpartition(":")
    if not path or part not in ("1", "2"):
        raise GvetoolError(f"--class-split must look like FILE:1 or FILE:2, got {spec!r}")
    return Path(path), int(part)


def class_view(corpus: Corpus, class_names: list[str], name: str) -> Corpus:
    """``corpus`` restricted to ``class_names``, renumbered 0..k-1 in the original order."""
    if corpus.class_names is None:
        raise GvetoolError(f"dataset '{corpus.name}' has no classes to split")
    known = set(corpus.class_names)
    unknown = [c for c in class_names if c not in known]
    if unknown:
        raise GvetoolError(
            f"the class split names {len(unknown)} classes that '{corpus.name}' does not have "
            f"(first: {', '.join(unknown[:3])}); was it made for another dataset?"
        )
    wanted = set(class_names)
    kept = [i for i, c in enumerate(corpus.class_names) if c in wanted]
    renumber = np.full(len(corpus.class_names), -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    splits = {key: _restrict(split, renumber) for key, split in corpus.splits.items()}
    return dataclasses.replace(
        corpus,
        name=name,
        splits=splits,
        class_names=[corpus.class_names[i] for i in kept],
        base=corpus,
    )


def _restrict(split: Split, renumber: np.ndarray) -> Split:
    assert split.class_ids is not None
    new_ids = renumber[split.class_ids]
    keep = np.flatnonzero(new_ids >= 0).tolist()
    return Split(
        split.name,
        [split.image_ids[i] for i in keep],
        [split.captions[i] for i in keep],
        [split.image_files[i] for i in keep],
        new_ids[keep],
    )


def apply_class_split(corpus: Corpus, spec: str) -> Corpus:
    """The view ``FILE:PART`` of ``corpus``."""
    path, part = parse_spec(spec)
    split = load_class_split(path)
    return class_view(corpus, split["parts"][part - 1], f"{corpus.name}[{path.stem}:{part}]")


def default_part(corpus: Corpus, part: int, name: str) -> Corpus:
    """Part ``part`` of the default split (ratio 0.5, seed 0): what ``cub1``/``cub2`` are."""
    if corpus.class_names is None:
        raise GvetoolError(f"dataset '{corpus.name}' has no classes to split")
    split = make_class_split(corpus.class_names, DEFAULT_RATIO, DEFAULT_SEED)
    return class_view(corpus, split["parts"][part - 1], name)
