"""Opening a dataset by name: the core asks the plugin registry, never a module."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gvetool.data.class_split import apply_class_split
from gvetool.data.corpus import Corpus
from gvetool.data.folds import fold_view
from gvetool.kernel.manager import get_plugins
from gvetool.utils.errors import DataError, GvetoolError

if TYPE_CHECKING:
    from gvetool.config.schema import TrainConfig


def open_dataset(
    name: str, data_root: Path | None = None, class_split: str | None = None
) -> Corpus:
    """Load dataset ``name`` from ``data_root`` (or its default location).

    ``class_split`` (``FILE:1|2``) restricts it to one part of a class split.
    """
    spec = get_plugins().datasets.get(name)
    try:
        corpus = spec.load()(data_root)
    except GvetoolError as exc:
        if type(exc) is not GvetoolError:
            raise
        raise DataError(str(exc)) from None  # a loader's plain error is about its data
    if not isinstance(corpus, Corpus):
        raise GvetoolError(
            f"dataset plugin '{name}' returned {type(corpus).__name__}, not a Corpus; "
            "report this to the plugin's authors"
        )
    return apply_class_split(corpus, class_split) if class_split else corpus


def open_configured(config: TrainConfig) -> Corpus:
    """The dataset a run configuration names, with its class split and fold applied."""
    root = Path(config.data_root) if config.data_root else None
    corpus = open_dataset(config.dataset, root, config.class_split)
    if config.folds:
        corpus = fold_view(corpus, config.fold, config.folds, config.fold_seed, config.stratified)
    return corpus
