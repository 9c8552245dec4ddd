"""Writing a generated dataset in the CUB release layout, which both gvetool (``--dataset
cub``) and the original code read: descriptions JSON per split, split lists, classes.txt,
and the feature and label pickles (no images).

Shared by the benchmark generators (``reef.py``, ``moths.py``), which differ in what they
describe, not in how it is laid out.
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

SPLITS = ("train", "val", "test")
Kind = TypeVar("Kind")
Individual = TypeVar("Individual")
Items = dict[str, list[tuple[str, int, list[str]]]]


def split_of(order: int, per_class: int) -> str:
    """The split of an image by its place in its class's shuffled order (60/20/20)."""
    n_train, n_val = round(per_class * 0.6), round(per_class * 0.2)
    return "train" if order < n_train else "val" if order < n_train + n_val else "test"


def draw_individuals(
    kinds: Sequence[Kind],
    class_names: Sequence[str],
    per_class: int,
    captions: int,
    rng: np.random.Generator,
    one: Callable[[Kind, np.random.Generator], Individual],
    describe: Callable[[Individual, np.random.Generator], str],
) -> tuple[Items, list[str], dict[str, Individual]]:
    """``per_class`` individuals of each kind (``one``), each with ``captions``
    descriptions, assigned to splits by a shuffled order per class: the split items
    (:func:`write_cub_layout`'s), the image ids in split order and each id's individual."""
    items: Items = {split: [] for split in SPLITS}
    individuals: dict[str, Individual] = {}
    for c, kind in enumerate(kinds):
        order = rng.permutation(per_class)
        for i in range(per_class):
            individual = one(kind, rng)
            image_id = f"{class_names[c]}/{class_names[c].split('.', 1)[1]}_{i + 1:04d}.jpg"
            texts = [describe(individual, rng) for _ in range(captions)]
            items[split_of(order[i], per_class)].append((image_id, c, texts))
            individuals[image_id] = individual
    ordered = [image_id for split in SPLITS for image_id, _, _ in items[split]]
    return items, ordered, individuals


def write_cub_layout(
    out: Path,
    class_names: Sequence[str],
    items: Items,
    vectors: dict[str, np.ndarray],
    title: str,
) -> None:
    """``items[split]``: ``(image_id, class index, descriptions)``; ``vectors``: each
    image's feature vector."""
    from gvetool.builtins.datasets.captions_json import write_captions
    from gvetool.utils.files import atomic_write, write_text

    out.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{c + 1} {name}\n" for c, name in enumerate(class_names))
    write_text(out / "classes.txt", lines)
    for split in SPLITS:
        ids = [image_id for image_id, _, _ in items[split]]
        write_text(out / f"{split}.txt", "".join(f"{i}\n" for i in ids))
        texts = [descriptions for _, _, descriptions in items[split]]
        write_captions(
            out / f"descriptions_bird.{split}.fg.json", ids, texts, ids, f"{title} ({split})"
        )
    everything = [item for split in SPLITS for item in items[split]]
    with atomic_write(out / "CUB_label_dict.p") as handle:
        pickle.dump({image_id: c + 1 for image_id, c, _ in everything}, handle, protocol=2)
    with atomic_write(out / "CUB_feature_dict.p") as handle:
        pickle.dump(
            {image_id: vectors[image_id] for image_id, _, _ in everything}, handle, protocol=2
        )


def command_line(write: Callable[..., None], description: str, what: str) -> None:
    """A generator's command line: ``OUT [--classes N] [--images-per-class N]
    [--captions-per-image N] [--feature-dim N] [--seed N]``, passed to ``write``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("out", type=Path)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--images-per-class", type=int, default=30)
    parser.add_argument("--captions-per-image", type=int, default=10)
    parser.add_argument("--feature-dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = (args.classes, args.images_per_class, args.captions_per_image, args.feature_dim)
    write(args.out, *sizes, args.seed)
    print(f"wrote {args.classes} {what} classes to {args.out}")
