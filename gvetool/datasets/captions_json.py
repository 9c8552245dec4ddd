"""Reading and writing captions in the COCO captions format, with errors that say where.

Both CUB (Hendricks et al. release: ``descriptions_bird.*.fg.json``) and COCO 2014
(``captions_*2014.json``) use it; ids are strings in one and integers in the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gvetool.errors import GvetoolError
from gvetool.io import read_json, write_json


def read_captions(path: Path) -> tuple[list[str], list[list[str]], list[str]]:
    """``(image ids, captions per image, file names)`` in the file's image order.

    Image ids are returned as strings whatever their JSON type. Images listed without
    captions are kept (evaluation reports them); captions of unlisted images are an error.
    """
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise GvetoolError(f"{path} is not in COCO captions format (no 'annotations' list)")
    images: dict[str, str] = {}
    for i, image in enumerate(data.get("images") or []):
        if not isinstance(image, dict) or "id" not in image:
            raise GvetoolError(f"{path}: images[{i}] has no 'id'")
        images[str(image["id"])] = str(image.get("file_name") or image["id"])
    listed = bool(images)
    captions: dict[str, list[str]] = {key: [] for key in images}
    unlisted: list[str] = []
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "caption" not in ann:
            raise GvetoolError(f"{path}: annotations[{i}] needs 'image_id' and 'caption'")
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
