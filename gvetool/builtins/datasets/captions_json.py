"""Reading and writing captions in the COCO captions format, with errors that say where.

Both CUB (Hendricks et al. release: ``descriptions_bird.*.fg.json``) and COCO 2014
(``captions_*2014.json``) use it; ids are strings in one and integers in the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import read_json, write_json


def read_captions(path: Path) -> tuple[list[str], list[list[str]], list[str]]:
    """``(image ids, captions per image, file names)`` in the file's image order.

    Image ids are returned as strings whatever their JSON type. Images listed without
    captions are kept (evaluation reports them); captions of unlisted images are an error.
    """
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise GvetoolError(f"{path} is not in COCO captions format (no 'annotations' list)")
    listing = data.get("images") or []
    if not isinstance(listing, list):
        raise GvetoolError(f"{path}: 'images' must be a list, found {type(listing).__name__}")
    images: dict[str, str] = {}
    for i, image in enumerate(listing):
        if not isinstance(image, dict) or not _is_id(image.get("id")):
            raise GvetoolError(f"{path}: images[{i}] has no 'id' (a string or an integer)")
        name = image.get("file_name", image["id"])
        if not isinstance(name, str | int) or isinstance(name, bool):
            raise GvetoolError(f"{path}: images[{i}]'s 'file_name' must be a string")
        images[str(image["id"])] = str(name)
    listed = bool(images)
    captions: dict[str, list[str]] = {key: [] for key in images}
    unlisted: list[str] = []
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "caption" not in ann:
            raise GvetoolError(f"{path}: annotations[{i}] needs 'image_id' and 'caption'")
        if not isinstance(ann["caption"], str):
            found = "null" if ann["caption"] is None else type(ann["caption"]).__name__
            raise GvetoolError(f"{path}: annotations[{i}]'s 'caption' must be text, found {found}")
        if not _is_id(ann["image_id"]):
            raise GvetoolError(
                f"{path}: annotations[{i}]'s 'image_id' must be a string or an integer"
            )
        key = str(ann["image_id"])
        if key not in captions:
            if listed:
                unlisted.append(key)
                continue
            captions[key], images[key] = [], key
        captions[key].append(str(ann["caption"]).strip())
    if unlisted:
        raise GvetoolError(
            f"{path}: {len(unlisted)} captions refer to images not in its 'images' list "
            f"(first: {', '.join(sorted(set(unlisted))[:3])})"
        )
    ids = list(images)
    return ids, [captions[key] for key in ids], [images[key] for key in ids]


def _is_id(value: Any) -> bool:
    """Image ids are strings (CUB) or integers (COCO), never null, lists or booleans."""
    return isinstance(value, str | int) and not isinstance(value, bool)


def write_captions(
    path: Path,
    image_ids: Sequence[Any],
    captions: Sequence[Sequence[str]],
    file_names: Sequence[str],
    description: str,
) -> None:
    """Write captions in COCO captions format (atomically)."""
    images = [{"id": i, "file_name": f} for i, f in zip(image_ids, file_names, strict=True)]
    annotations = []
    for image_id, texts in zip(image_ids, captions, strict=True):
        for text in texts:
            annotations.append({"image_id": image_id, "id": len(annotations), "caption": text})
    write_json(
        path,
        {
            "info": {"description": description},
            "licenses": [],
            "type": "captions",
            "images": images,
            "annotations": annotations,
        },
    )
