"""Image encoders and the resumable extraction of their features into the feature store.

An encoder plugin's factory returns a :class:`FeatureProvider`: something that, given a
corpus, opens a feature store for it. The precomputed provider converts the features a
dataset ships; an :class:`ImageEncoder` (a CNN) computes them from the images, once, in
batches, resuming where an interrupted run stopped.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gvetool.data.corpus import Corpus
from gvetool.data.features import (
    FEATURES_FILE,
    FORMAT,
    INDEX_FILE,
    FeatureStore,
    check_finite,
    is_complete,
    store_directory,
)
from gvetool.utils.errors import DataError, GvetoolError, advice_for
from gvetool.utils.files import read_json, reading, write_json
from gvetool.utils.progress import progress_bar

PARTIAL_FILE = "features.partial.npy"
PROGRESS_FILE = "progress.json"


@dataclass(frozen=True)
class ExtractionOptions:
    """How to run an encoder over a dataset's images."""

    batch_size: int = 64
    device: str = "cpu"
    num_workers: int = 0


class FeatureProvider(Protocol):
    """What an encoder plugin's factory returns."""

    name: str

    def open_store(
        self, corpus: Corpus, cache_dir: Path | None, options: ExtractionOptions
    ) -> FeatureStore: ...


def all_images(corpus: Corpus) -> tuple[list[str], list[Path]]:
    """Every distinct image of the corpus (ids sorted) with its file path."""
    paths: dict[str, Path] = {}
    for split in corpus.splits.values():
        for i, image_id in enumerate(split.image_ids):
            paths.setdefault(image_id, corpus.image_path(split, i))
    ids = sorted(paths)
    return ids, [paths[i] for i in ids]


# Pillow's own guard against decompression bombs: larger images are refused in one line
# (Pillow would warn up to twice this and raise above it, as a bug would surface).
MAX_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485
# A photo is shrunk by a whole factor, cheaply, while its short side stays at least this
# (twice the 256 pixels the encoders' transforms resize to), before the transform.
SHRINK_TO = 512


def read_image(
    path: Path, transform: Callable[[Image.Image], torch.Tensor], shrink: bool = False
) -> torch.Tensor:
    """The image file at ``path`` as RGB through ``transform``; a file that is missing, a
    folder, not an image or above :data:`MAX_PIXELS` is one line naming it.

    ``shrink`` (photos, never a dataset's images, whose features must be the store's):
    first reduce a large image by a whole factor, at decode time for a JPEG, so that a
    camera's photo costs the memory of a small one.
    """
    with reading(path, "image file", DataError):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(path)  # reads the header; decoding waits
            with image:
                if image.width * image.height > MAX_PIXELS:
                    raise _too_large(path, image.width * image.height)
                if shrink:
                    image = shrunk(image)
                return transform(image.convert("RGB"))
        except Image.DecompressionBombError as exc:  # beyond what Pillow opens at all
            raise _too_large(path, bomb_pixels(exc)) from None
        except UnidentifiedImageError:
            raise DataError(f"cannot read image {path}: not an image Pillow can read") from None
        except ValueError as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None


def bomb_pixels(error: Image.DecompressionBombError) -> int:
    """The pixels an image Pillow refused to open claims, from Pillow's message."""
    claimed = re.search(r"\((\d+) pixels\)", str(error))
    return int(claimed.group(1)) if claimed else 2 * MAX_PIXELS


def _too_large(path: Path, pixels: int) -> DataError:
    return DataError(
        f"image {path} has {pixels / 1e6:.0f} megapixels, more than the "
        f"{MAX_PIXELS / 1e6:.0f} megapixels gvetool reads; downscale it first"
    )


def shrunk(image: Image.Image) -> Image.Image:
    """``image`` reduced by the largest whole factor that keeps its short side at least
    :data:`SHRINK_TO` (a JPEG decodes at that scale directly); small images as they are."""
    factor = min(image.size) // SHRINK_TO
    if factor < 2:
        return image
    if image.format == "JPEG":
        image.draft("RGB", (image.width // factor, image.height // factor))
        if min(image.size) // SHRINK_TO < 2:  # the decoder's own scale was enough
            return image
        factor = min(image.size) // SHRINK_TO
    return image.reduce(factor)


class _ImageFiles(Dataset[torch.Tensor]):
    def __init__(self, paths: list[Path], transform: Callable[[Image.Image], torch.Tensor]):
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return read_image(self.paths[index], self.transform)


@dataclass
class ImageEncoder:
    """A CNN that maps a batch of images ``[B, 3, H, W]`` to vectors ``[B, D]``.

    ``fingerprint`` identifies the weights and the cut (e.g. ``resnet50|IMAGENET1K_V1|-1``)
    so that features of different encoders never share a store.
    """

    name: str
    module: nn.Module
    transform: Callable[[Image.Image], torch.Tensor]
    fingerprint: str

    def open_store(
        self, corpus: Corpus, cache_dir: Path | None, options: ExtractionOptions
    ) -> FeatureStore:
        return extract_features(corpus, self, cache_dir, options)


def extract_features(
    corpus: Corpus, encoder: ImageEncoder, cache_dir: Path | None, options: ExtractionOptions
) -> FeatureStore:
    """Encode every image once into the store; an interrupted run resumes where it stopped.

    Rows are written into ``features.partial.npy`` batch by batch; ``progress.json``
    (written atomically after the rows are flushed) records how many are done. Only when
    every image is encoded does the file become ``features.npy`` and the index appear.
    """
    corpus = corpus.feature_corpus  # a view encodes (once) for its whole base dataset
    ids, paths = all_images(corpus)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise GvetoolError(
            f"{len(missing)} images of '{corpus.name}' are missing (first: "
            f"{', '.join(missing[:3])}); download the images or fix --data-root"
        )
    image_list = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    fingerprint = f"{encoder.fingerprint}|{image_list}"
    directory = store_directory(cache_dir, corpus.name, encoder.name, fingerprint)
    if is_complete(directory):
        return FeatureStore(directory)
    directory.mkdir(parents=True, exist_ok=True)
    done, rows = _resume_point(directory, fingerprint, len(ids))
    device = torch.device(options.device)
    module = encoder.module.to(device).eval()
    loader = DataLoader(
        torch.utils.data.Subset(_ImageFiles(paths, encoder.transform), range(done, len(ids))),
        batch_size=options.batch_size,
        num_workers=options.num_workers,
    )
    with (
        progress_bar(len(ids), f"encoding images with {encoder.name}") as advance,
        torch.inference_mode(),
    ):
        advance(done)
        for batch in loader:
            vectors = module(batch.to(device)).float().cpu().numpy()
            check_finite(vectors, ids[done : done + len(vectors)], f"encoder {encoder.name}")
            if rows is None:
                rows = _new_store_file(directory / PARTIAL_FILE, (len(ids), vectors.shape[1]))
            rows[done : done + len(vectors)] = vectors
            rows.flush()
            done += len(vectors)
            write_json(directory / PROGRESS_FILE, {"fingerprint": fingerprint, "done": done})
            advance(len(vectors))
    del rows
    (directory / PARTIAL_FILE).rename(directory / FEATURES_FILE)
    width = int(np.load(directory / FEATURES_FILE, mmap_mode="r").shape[1])
    write_json(
        directory / INDEX_FILE,
        {"format": FORMAT, "image_ids": ids, "dim": width, "source": fingerprint},
    )
    (directory / PROGRESS_FILE).unlink(missing_ok=True)
    return FeatureStore(directory)


def _new_store_file(path: Path, shape: tuple[int, int]) -> np.memmap:
    """The partial feature file, its full size claimed at once: a disk or file-size limit
    that cannot hold it says so now, naming it, not after hours of encoding."""
    try:
        return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    except OSError as exc:
        raise DataError(
            f"cannot write {path} ({shape[0]} x {shape[1]} features, "
            f"{4 * shape[0] * shape[1] / 2**20:.0f} MiB): {exc.strerror or exc} "
            f"({advice_for(exc)})"
        ) from None


def _resume_point(directory: Path, fingerprint: str, count: int) -> tuple[int, Any]:
    """Rows already done and the open partial file, or ``(0, None)`` to start afresh."""
    progress_path, partial = directory / PROGRESS_FILE, directory / PARTIAL_FILE
    if progress_path.is_file() and partial.is_file():
        progress = read_json(progress_path)
        if progress.get("fingerprint") == fingerprint:
            rows = np.load(partial, mmap_mode="r+")
            if rows.shape[0] == count and 0 < int(progress["done"]) <= count:
                return int(progress["done"]), rows
    partial.unlink(missing_ok=True)
    progress_path.unlink(missing_ok=True)
    return 0, None


def build_encoder(name: str, **options: Any) -> FeatureProvider:
    """The feature provider ``name`` (``family:variant`` for encoder families) asks for."""
    from gvetool.kernel.manager import get_plugins

    registry = get_plugins().encoders
    family, _, variant = name.partition(":")
    if not variant:
        return registry.get(name).load()(**options)  # type: ignore[no-any-return]
    spec = registry.get(family)
    if not spec.variants:
        raise GvetoolError(f"encoder '{family}' has no variants; use --encoder {family}")
    return spec.load()(variant=variant, **options)  # type: ignore[no-any-return]
