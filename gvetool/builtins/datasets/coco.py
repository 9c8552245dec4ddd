"""COCO 2014 captions: ``annotations/captions_{train,val}2014.json`` and the image folders.

COCO has no public test captions, so evaluation uses val2014: the ``test`` split is the
val split (the corpus notes say so). COCO has no classes: class-conditioned models
(GVE) refuse it. Features come from an image encoder through the feature store.
"""

from __future__ import annotations

from pathlib import Path

from gvetool.builtins.datasets.captions_json import read_captions
from gvetool.data.corpus import Corpus, Split
from gvetool.data.download import Resource, download_all
from gvetool.utils.errors import GvetoolError
from gvetool.utils.paths import default_data_root

YEAR = "2014"
FOLDERS = {"train": f"train{YEAR}", "val": f"val{YEAR}"}
LAYOUT = (
    "expected annotations/captions_train2014.json, annotations/captions_val2014.json, "
    "train2014/ and val2014/ image folders"
)
RESOURCES = [
    Resource(
        "http://images.cocodataset.org/annotations/annotations_trainval2014.zip", extract=True
    ),
    Resource("http://images.cocodataset.org/zips/train2014.zip", extract=True),
    Resource("http://images.cocodataset.org/zips/val2014.zip", extract=True),
]
HOW_TO_GET = "get it with `gvetool data download coco` or `gvetool data synth DIR --layout coco`"


def annotation_file(split: str) -> str:
    return f"annotations/captions_{FOLDERS[split]}.json"


def open_coco(data_root: Path | None = None, name: str = "coco") -> Corpus:
    root = Path(data_root) if data_root else default_data_root(name)
    if not root.is_dir():
        raise GvetoolError(f"{name} data root {root} does not exist; {HOW_TO_GET}")
    missing = [annotation_file(s) for s in FOLDERS if not (root / annotation_file(s)).is_file()]
    if missing:
        raise GvetoolError(
            f"{name} data root {root} is missing {', '.join(missing)}; {LAYOUT}; {HOW_TO_GET}"
        )
    splits = {}
    for split, folder in FOLDERS.items():
        image_ids, captions, files = read_captions(root / annotation_file(split))
        splits[split] = Split(split, image_ids, captions, [f"{folder}/{f}" for f in files])
    val = splits["val"]
    splits["test"] = Split("test", val.image_ids, val.captions, val.image_files)
    return Corpus(
        name=name,
        root=root,
        splits=splits,
        notes=["COCO has no public test captions: the test split is val2014"],
    )


def download_coco(data_root: Path | None = None, mirror: str | None = None) -> None:
    """Fetch the 2014 caption annotations and the train/val images (about 19 GB)."""
    download_all(RESOURCES, Path(data_root) if data_root else default_data_root("coco"), mirror)
