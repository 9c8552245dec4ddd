"""Cross-validation folds over images (never captions) of a dataset's training split.

Fold ``k`` of ``K`` is a view: its training split is the other folds' images, its
validation split is fold ``k``'s images (all captions of an image stay together), its test
split is the dataset's own. Folds come from scikit-learn's ``KFold`` (shuffled with the
seed) or ``StratifiedKFold`` by class, and share the base dataset's files and features.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gvetool.data.corpus import Corpus, Split
from gvetool.utils.errors import GvetoolError


def fold_indices(
    split: Split,
    folds: int,
    seed: int,
    stratified: bool,
    class_names: list[str] | None = None,
) -> list[np.ndarray]:
    """Validation image indices of each fold (a partition of the split's images)."""
    # Imported here: scikit-learn pulls in SciPy (0.8 s, 80 MB), which every training run
    # would otherwise pay at start-up although only cross-validation needs it.
    from sklearn.model_selection import KFold, StratifiedKFold

    count = len(split.image_ids)
    if folds < 2:
        raise GvetoolError(f"--folds must be >= 2, got {folds}")
    if folds > count:
        raise GvetoolError(f"--folds {folds} is more than the {count} training images")
    if not stratified:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
        return [val for _, val in splitter.split(np.arange(count))]
    if split.class_ids is None:
        raise GvetoolError("--stratified needs a dataset with classes")
    classes, counts = np.unique(split.class_ids, return_counts=True)
    smallest = int(counts.argmin())
    if counts[smallest] < folds:
        cls = int(classes[smallest])
        name = class_names[cls] if class_names else f"class id {cls}"
        raise GvetoolError(
            f"--folds {folds} is more than {name} has training images "
            f"({int(counts[smallest])}); use at most {int(counts[smallest])} folds or "
            "drop --stratified"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [val for _, val in splitter.split(np.arange(count), split.class_ids)]


def _subset(split: Split, indices: np.ndarray, name: str) -> Split:
    keep = sorted(indices.tolist())
    return Split(
        name,
        [split.image_ids[i] for i in keep],
        [split.captions[i] for i in keep],
        [split.image_files[i] for i in keep],
        None if split.class_ids is None else split.class_ids[keep],
    )


def fold_view(corpus: Corpus, fold: int, folds: int, seed: int, stratified: bool) -> Corpus:
    """Fold ``fold`` (0-based) of ``folds`` of ``corpus``'s training images."""
    if not 0 <= fold < folds:
        raise GvetoolError(f"fold must be between 0 and {folds - 1}, got {fold}")
    train = corpus.split("train")
    validation = fold_indices(train, folds, seed, stratified, corpus.class_names)[fold]
    rest = np.setdiff1d(np.arange(len(train.image_ids)), validation)
    splits = {
        "train": _subset(train, rest, "train"),
        "val": _subset(train, validation, "val"),
        "test": corpus.split("test")
        if "test" in corpus.splits
        else _subset(train, validation, "test"),
    }
    return dataclasses.replace(
        corpus,
        name=f"{corpus.name}-fold{fold + 1}of{folds}",
        splits=splits,
        base=corpus,
        vocabulary_split=corpus.vocabulary_source(),
    )
