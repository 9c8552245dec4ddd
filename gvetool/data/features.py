"""The feature store: image features as one ``.npy`` file plus an index.

Features are converted once (from a dataset's pickle, or computed by an encoder) into
``<cache>/<dataset>-<source>-<hash>/{features.npy,index.json}``. Opening a store takes
milliseconds and copies nothing. Batches are read with ``pread`` into fresh arrays: the
file's pages live once in the kernel's page cache, shared by every process that reads
them (DataLoader workers, CV folds, DDP ranks), and are not charged to each process's
resident memory the way pages touched through a memory map are (after one epoch that
would be the whole file). ``array`` is a read-only memory map for random inspection.
``index.json`` is written last, so a store without it is incomplete and is rebuilt (or
resumed) rather than trusted.
"""

from __future__ import annotations

import hashlib
import os
import re
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gvetool.data.corpus import Corpus
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import atomic_write, read_json, write_json
from gvetool.utils.paths import default_feature_cache
from gvetool.utils.progress import progress_bar

FORMAT = "gvetool-features/1"
FEATURES_FILE = "features.npy"
INDEX_FILE = "index.json"
DTYPE = np.dtype("<f4")


class FeatureStore:
    """Read-only view of a built store: ``array[row]`` is the feature of ``image_ids[row]``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        index = read_json(self.directory / INDEX_FILE)
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise GvetoolError(f"{self.directory} is not a gvetool feature store ({FORMAT})")
        ids, dim = index.get("image_ids"), index.get("dim")
        if not (
            isinstance(ids, list)
            and all(isinstance(i, str) for i in ids)
            and isinstance(dim, int)
            and not isinstance(dim, bool)
            and dim >= 1
        ):
            raise GvetoolError(
                f"the feature store {self.directory} is damaged ({INDEX_FILE} needs a list of "
                "image ids and a positive dim); delete that folder and it will be rebuilt"
            )
        self.image_ids: list[str] = ids
        self.dim: int = dim
        self.source: str = str(index.get("source", ""))
        try:
            self.array = np.load(self.directory / FEATURES_FILE, mmap_mode="r")
        except (OSError, ValueError) as exc:  # truncated (mmap past the end) or not an .npy
            raise GvetoolError(
                f"the feature store {self.directory} is damaged ({FEATURES_FILE}: "
                f"{str(exc).splitlines()[0]}); delete that folder and it will be rebuilt"
            ) from None
        if self.array.shape != (len(self.image_ids), self.dim):
            raise GvetoolError(
                f"{self.directory}: features.npy has shape {self.array.shape}, index says "
                f"{(len(self.image_ids), self.dim)}; delete the folder to rebuild it"
            )
        self._row = {image_id: row for row, image_id in enumerate(self.image_ids)}
        self._data_offset = int(self.array.offset)
        self._fd = os.open(self.directory / FEATURES_FILE, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Features of ``rows`` as a new ``[len(rows), dim]`` float32 array."""
        out = np.empty((len(rows), self.dim), dtype=DTYPE)
        row_bytes = self.dim * DTYPE.itemsize
        for i, row in enumerate(rows.tolist()):
            os.preadv(self._fd, [memoryview(out[i]).cast("B")], self._data_offset + row * row_bytes)
        return out

    def __len__(self) -> int:
        return len(self.image_ids)

    def __reduce__(self) -> tuple[type[FeatureStore], tuple[Path]]:
        # DataLoader workers reopen the memory map instead of receiving a copy of it.
        return (FeatureStore, (self.directory,))

    def rows(self, image_ids: Sequence[str], what: str = "images") -> np.ndarray:
        """Row numbers of ``image_ids``; missing ids are one error (count + examples)."""
        missing = [i for i in image_ids if i not in self._row]
        if missing:
            raise GvetoolError(
                f"{len(missing)} {what} have no features in {self.directory} "
                f"(first: {', '.join(missing[:3])}); the features do not match the captions"
            )
        return np.fromiter((self._row[i] for i in image_ids), dtype=np.int64, count=len(image_ids))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "features"


def store_directory(cache_dir: Path | None, dataset: str, source: str, fingerprint: str) -> Path:
    """Where the store for this dataset/source lives; the hash tracks source changes."""
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    return Path(cache_dir or default_feature_cache()) / f"{_slug(dataset)}-{_slug(source)}-{key}"


def is_complete(directory: Path) -> bool:
    return (directory / INDEX_FILE).is_file() and (directory / FEATURES_FILE).is_file()


def open_precomputed(corpus: Corpus, cache_dir: Path | None = None) -> FeatureStore:
    """The store of the corpus's shipped features, converting them on first use."""
    corpus = corpus.feature_corpus  # a view shares its base dataset's store
    source = corpus.features
    if source is None:
        raise GvetoolError(
            f"dataset '{corpus.name}' ships no precomputed features; compute them with "
            f"`gvetool data features --dataset {corpus.name} --encoder resnet50`"
        )
    directory = store_directory(cache_dir, corpus.name, source.name, source.fingerprint)
    if not is_complete(directory):
        build_from_mapping(directory, source.read(), source.fingerprint, origin=source.name)
    return FeatureStore(directory)


def build_from_mapping(
    directory: Path, features: dict[str, np.ndarray], fingerprint: str, origin: str = "features"
) -> None:
    """Write ``features`` (image id -> vector) as a store, consuming the dict as it goes.

    Each vector is written straight to the file and dropped from the dict, so the
    conversion needs about one copy of the data in memory, not two.
    """
    if not features:
        raise GvetoolError(f"{origin} holds no features")
    image_ids = sorted(features)
    dim = _dimension(features[image_ids[0]], image_ids[0], origin)
    with (
        atomic_write(directory / FEATURES_FILE) as handle,
        progress_bar(len(image_ids), f"converting {origin} to a feature store") as advance,
    ):
        np.lib.format.write_array_header_1_0(
            handle, {"descr": DTYPE.str, "fortran_order": False, "shape": (len(image_ids), dim)}
        )
        for image_id in image_ids:
            vector = features.pop(image_id)
            found = _dimension(vector, image_id, origin)
            if found != dim:
                raise GvetoolError(
                    f"{origin}: features of differing dimension: {image_id} has {found}, "
                    f"expected {dim} like {image_ids[0]}"
                )
            row = np.ascontiguousarray(vector, dtype=DTYPE)
            check_finite(row[None], [image_id], origin)
            handle.write(row.tobytes())
            advance(1)
    write_json(
        directory / INDEX_FILE,
        {"format": FORMAT, "image_ids": image_ids, "dim": dim, "source": fingerprint},
    )


def check_finite(rows: np.ndarray, image_ids: list[str], origin: str) -> None:
    """Refuse NaN or infinite features, naming the first image that has them: a model
    trained on them turns NaN without any other sign."""
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any():
        first = image_ids[int(np.flatnonzero(bad)[0])]
        raise GvetoolError(
            f"{origin}: the feature of {first} has NaN or infinite values ({int(bad.sum())} "
            "such images here); regenerate the features or fix that image"
        )


def _dimension(vector: object, image_id: str, origin: str) -> int:
    array = np.asarray(vector)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
        raise GvetoolError(
            f"{origin}: the feature of {image_id} should be a 1-d numeric vector, "
            f"got shape {array.shape} of {array.dtype}"
        )
    return int(array.shape[0])
