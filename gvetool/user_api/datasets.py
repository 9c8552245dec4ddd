"""Datasets from Python: generate, download, prepare, encode, inspect, split classes.

Every dataset is reached through its plugin's spec (the core never names a built-in), so
these work the same for ``synth``, ``cub``, ``coco`` and any installed plugin's dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gvetool.user_api.results import FeatureStoreInfo
from gvetool.utils.console import quiet_unless_asked
from gvetool.utils.errors import GvetoolError


@quiet_unless_asked
def generate_dataset(name: str, out: str | Path, *, force: bool = False, **options: Any) -> Path:
    """Write a generated dataset (``synth``: the embedded birds) to ``out``, as ``gvetool
    data synth`` does; ``options`` are the generator's (``classes=``, ``images_per_class=``,
    ...). Returns ``out``, ready for ``train(..., dataset=name, data_root=out)``."""
    from gvetool.kernel.manager import get_plugins

    get_plugins().datasets.get(name).load_step("generate")(Path(out), force=force, **options)
    return Path(out)


@quiet_unless_asked
def prepare_dataset(name: str, data_root: str | Path) -> dict[str, int]:
    """Turn a dataset's raw release files in ``data_root`` into the layout gvetool reads,
    as ``gvetool data prepare``; returns what was written (counts by kind)."""
    from gvetool.kernel.manager import get_plugins

    return dict(get_plugins().datasets.get(name).load_step("prepare")(Path(data_root)))


@quiet_unless_asked
def download_dataset(
    name: str, data_root: str | Path | None = None, *, mirror: str | None = None
) -> Path:
    """Download a dataset's public release (resumable), as ``gvetool data download``;
    returns the folder it is in."""
    from gvetool.kernel.manager import get_plugins
    from gvetool.utils.paths import default_data_root

    root = Path(data_root) if data_root else default_data_root(name)
    get_plugins().datasets.get(name).load_step("download")(root, mirror)
    return root


@quiet_unless_asked
def compute_features(
    dataset: str,
    encoder: str,
    *,
    encoder_weights: str | None = None,
    encoder_remove_last: int | None = None,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    num_workers: int = 0,
) -> FeatureStoreInfo:
    """Encode every image of ``dataset`` into the feature store once (resumably), as
    ``gvetool data features``."""
    from gvetool.data.image_features import ExtractionOptions, build_encoder
    from gvetool.data.open import open_dataset

    options = {"weights": encoder_weights, "remove_last": encoder_remove_last}
    provider = build_encoder(encoder, **{k: v for k, v in options.items() if v is not None})
    corpus = open_dataset(dataset, Path(data_root) if data_root else None)
    store = provider.open_store(
        corpus,
        Path(cache_dir) if cache_dir else None,
        ExtractionOptions(batch_size, device, num_workers),
    )
    return FeatureStoreInfo(store.directory, len(store), store.dim)


@quiet_unless_asked
def dataset_info(
    dataset: str,
    *,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    class_split: str | None = None,
    min_count: int = 1,
) -> dict[str, Any]:
    """Images, captions and classes per split, vocabulary size and feature dim, as
    ``gvetool data info --json`` prints them."""
    from gvetool.data.features import open_precomputed
    from gvetool.data.open import open_dataset
    from gvetool.data.vocab import Vocabulary

    corpus = open_dataset(dataset, Path(data_root) if data_root else None, class_split)
    vocab = Vocabulary.from_tokens(corpus.vocabulary_source().tokens(), min_count=min_count)
    cache = Path(cache_dir) if cache_dir else None
    store = open_precomputed(corpus, cache) if corpus.features is not None else None
    report: dict[str, Any] = {
        "dataset": corpus.name,
        "root": str(corpus.root),
        "classes": len(corpus.class_names) if corpus.class_names else None,
        "vocabulary": len(vocab),
        "feature_dim": store.dim if store else None,
        "feature_store": str(store.directory) if store else None,
        "splits": {},
        "notes": corpus.notes,
    }
    for name, split in corpus.splits.items():
        if store:
            store.rows(split.image_ids, what=f"{name} images")
        report["splits"][name] = {
            "images": len(split.image_ids),
            "captions": split.num_captions,
            "classes": len(set(split.class_ids.tolist())) if split.class_ids is not None else None,
        }
    return report


def split_classes(
    dataset: str,
    *,
    ratio: float = 0.5,
    seed: int = 0,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
) -> Path:
    """Partition the classes into two disjoint parts, written as JSON (as ``gvetool split
    classes``); train on one with ``class_split=f"{path}:1"``. Returns the file."""
    from gvetool.data.class_split import make_class_split, save_class_split
    from gvetool.data.open import open_dataset

    corpus = open_dataset(dataset, Path(data_root) if data_root else None)
    if corpus.class_names is None:
        raise GvetoolError(f"dataset '{dataset}' has no classes to split")
    split = make_class_split(corpus.class_names, ratio, seed)
    path = Path(out) if out else Path(f"class-split-{dataset}-{ratio:g}-{seed}.json")
    save_class_split(path, split)
    return path
