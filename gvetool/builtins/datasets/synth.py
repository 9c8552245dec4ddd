"""The embedded ``synth`` dataset, written in the exact on-disk layout of CUB or COCO.

Writing the real layouts (instead of an in-memory toy) means the same loader code reads
synthetic and real data, so everything tested on synth is what runs on CUB. Output is
deterministic for a seed, and built in a temporary folder renamed into place at the end:
an interrupted generation leaves nothing half-written.
"""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from gvetool.builtins.datasets import coco, cub
from gvetool.builtins.datasets.captions_json import write_captions
from gvetool.builtins.datasets.synth_birds import (
    Bird,
    attribute_features,
    describe,
    make_classes,
    perturb,
    render,
)
from gvetool.data.corpus import Corpus
from gvetool.utils import console
from gvetool.utils.errors import DataError, GvetoolError
from gvetool.utils.files import atomic_write, write_json, write_text
from gvetool.utils.paths import default_data_root
from gvetool.utils.progress import progress_bar

LAYOUTS = ("cub", "coco")
SPLIT_FRACTIONS = {"train": 0.6, "val": 0.15}  # the rest is test
MANIFEST = "synth.json"


@dataclass(frozen=True)
class SynthOptions:
    """How much synthetic data to make; the defaults run everything in minutes on a CPU."""

    classes: int = 20
    images_per_class: int = 30
    captions_per_image: int = 10
    image_size: int = 64
    seed: int = 0
    layout: str = "cub"
    feature_dim: int = 8192
    noise: float = 0.1

    def validate(self) -> None:
        checks = [
            (self.classes >= 2, f"--classes must be >= 2, got {self.classes}"),
            (
                self.images_per_class >= 3,
                f"--images-per-class must be >= 3 (one each for train, val and test), "
                f"got {self.images_per_class}",
            ),
            (self.captions_per_image >= 1, "--captions-per-image must be >= 1"),
            (16 <= self.image_size <= 1024, "--image-size must be between 16 and 1024"),
            (self.feature_dim >= 1, "--feature-dim must be >= 1"),
            (0.0 <= self.noise <= 1.0, "--noise must be between 0 and 1"),
            (self.layout in LAYOUTS, f"--layout must be one of {', '.join(LAYOUTS)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise GvetoolError(message)


@dataclass
class _Image:
    class_index: int
    image_id: str
    file: str
    bird: Bird
    captions: list[str]


def _split_of(count: int, rng: np.random.Generator) -> list[str]:
    """Per-class split labels: every class appears in train, val and test."""
    n_train = max(1, round(count * SPLIT_FRACTIONS["train"]))
    n_val = max(1, round(count * SPLIT_FRACTIONS["val"]))
    n_train = min(n_train, count - n_val - 1)
    labels = ["train"] * n_train + ["val"] * n_val + ["test"] * (count - n_train - n_val)
    return [labels[i] for i in rng.permutation(count)]


def generate(out: Path, options: SynthOptions, force: bool = False) -> dict[str, int]:
    """Write a synthetic dataset to ``out``; returns counts (images, captions, classes)."""
    options.validate()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GvetoolError(f"cannot write the dataset to {out}: it is a file; choose a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise GvetoolError(f"{out} already exists and is not empty; pass --force to replace it")
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        counts = _write(partial, options)
        _swap_into_place(partial, out)
    except OSError as exc:  # name the folder asked for, not the staging one
        shutil.rmtree(partial, ignore_errors=True)
        raise GvetoolError(
            f"cannot write the dataset to {out}: {exc.strerror or exc}; choose a folder you "
            "can write to"
        ) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return counts


def generate_step(out: Path, force: bool = False, **options: Any) -> dict[str, int]:
    """The dataset spec's ``generate`` step: options by keyword, as in :class:`SynthOptions`.

    Why keywords: the caller (the demo, another plugin) asks the plugin manager for this
    step and must not import :class:`SynthOptions` to call it.
    """
    known = {f.name for f in fields(SynthOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise GvetoolError(
            f"unknown synth option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return generate(out, SynthOptions(**options), force=force)


def _swap_into_place(partial: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    partial.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _write(root: Path, options: SynthOptions) -> dict[str, int]:
    rng = np.random.default_rng(options.seed)
    classes = make_classes(options.classes, rng)
    images: dict[str, list[_Image]] = {"train": [], "val": [], "test": []}
    total = options.classes * options.images_per_class
    with progress_bar(total, "rendering synthetic birds") as advance:
        for c, (class_name, prototype) in enumerate(classes):
            class_dir = f"{c + 1:03d}.{class_name}"
            file_stem = "_".join(part.capitalize() for part in class_name.split("_"))
            for i, split in enumerate(_split_of(options.images_per_class, rng)):
                bird = perturb(prototype, options.noise, rng)
                uid = 100000 + c * options.images_per_class + i
                if options.layout == "cub":
                    image_id = f"{class_dir}/{file_stem}_{i + 1:04d}_{uid}.jpg"
                    file = f"{cub.IMAGES_DIR}/{image_id}"
                else:
                    folder = coco.FOLDERS["train" if split == "train" else "val"]
                    image_id, file = str(uid), f"{folder}/COCO_{folder}_{uid:012d}.jpg"
                captions = [describe(bird, rng) for _ in range(options.captions_per_image)]
                path = root / file
                path.parent.mkdir(parents=True, exist_ok=True)
                render(bird, options.image_size, rng).save(path, "JPEG", quality=90)
                images[split].append(_Image(c, image_id, file, bird, captions))
                advance(1)
    if options.layout == "cub":
        _write_cub(root, options, classes, images, rng)
    else:
        _write_coco(root, images)
    counts = {
        "classes": options.classes,
        "images": total,
        "captions": total * options.captions_per_image,
    }
    write_json(root / MANIFEST, {"generator": "gvetool synth", **asdict(options), **counts}, 2)
    return counts


def _write_cub(
    root: Path,
    options: SynthOptions,
    classes: list[tuple[str, Bird]],
    images: dict[str, list[_Image]],
    rng: np.random.Generator,
) -> None:
    everything = [image for split in cub.SPLITS for image in images[split]]
    write_text(
        root / cub.CLASSES_FILE,
        "".join(f"{c + 1} {c + 1:03d}.{name}\n" for c, (name, _) in enumerate(classes)),
    )
    for split in cub.SPLITS:
        ids = [image.image_id for image in images[split]]
        write_text(root / cub.split_list_file(split), "".join(f"{i}\n" for i in ids))
        write_captions(
            root / cub.descriptions_file(split),
            ids,
            [image.captions for image in images[split]],
            ids,
            description=f"gvetool synthetic birds ({split})",
        )
    labels = {image.image_id: image.class_index + 1 for image in everything}
    with atomic_write(root / cub.LABELS_FILE) as handle:
        pickle.dump(labels, handle, protocol=2)
    features = attribute_features([image.bird for image in everything], options.feature_dim, rng)
    with atomic_write(root / cub.FEATURES_FILE) as handle:
        pickle.dump(
            {image.image_id: features[i] for i, image in enumerate(everything)}, handle, protocol=2
        )
    _write_raw_tsv(root, everything)


def _write_raw_tsv(root: Path, images: list[_Image]) -> None:
    """The raw descriptions file ``gvetool data prepare cub`` starts from.

    Eight columns; the seventh from last marks rejected work (one rejected row per image
    here, whose text must never reach the json files).
    """
    rows = []
    for n, image in enumerate(images):
        path = f"{cub.IMAGES_DIR}/{image.image_id}"
        for k, caption in enumerate(image.captions):
            rows.append(f"A{n}_{k}\t\tW{k}\t30\tapproved\tUS\t{path}\t{caption}\n")
        rows.append(f"A{n}_x\trejected\tW9\t2\trejected\tUS\t{path}\tREJECTED GIBBERISH\n")
    write_text(root / cub.RAW_TSV, "".join(rows))


def _write_coco(root: Path, images: dict[str, list[_Image]]) -> None:
    grouped = {"train": images["train"], "val": images["val"] + images["test"]}
    for split, members in grouped.items():
        write_captions(
            root / coco.annotation_file(split),
            [int(image.image_id) for image in members],
            [image.captions for image in members],
            [Path(image.file).name for image in members],
            description=f"gvetool synthetic birds, COCO layout ({split})",
        )


def open_synth(data_root: Path | None = None) -> Corpus:
    """The synth dataset at ``data_root``; the default one is generated on first use.

    A ``--data-root`` that does not exist is refused rather than filled: a mistyped path
    would otherwise get a new dataset and a run at the original's sizes on it, silently.
    """
    if data_root and not Path(data_root).exists():
        raise DataError(
            f"no synth dataset at {data_root}; make one there with: gvetool data synth "
            f"{data_root} (or leave out --data-root for the default one, made on first use)"
        )
    root = Path(data_root) if data_root else default_data_root("synth")
    if not root.exists():
        console.err().print(f"generating the synthetic dataset in {root} (first use)")
        generate(root, SynthOptions())
    if (root / coco.annotation_file("train")).is_file():
        return coco.open_coco(root, name="synth")
    return cub.open_cub(root, name="synth")
