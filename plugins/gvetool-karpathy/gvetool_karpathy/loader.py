"""Reading ``dataset_<name>.json`` (Karpathy splits) into a gvetool corpus."""

from __future__ import annotations

from pathlib import Path

from gvetool.plugin_api import Corpus, GvetoolError, Split, default_data_root, read_json

FILES = {
    "flickr8k": "dataset_flickr8k.json",
    "flickr30k": "dataset_flickr30k.json",
    "coco-karpathy": "dataset_coco.json",
}
SPLIT_OF = {"train": "train", "restval": "train", "val": "val", "test": "test"}


def open_karpathy(name: str, data_root: Path | None) -> Corpus:
    root = Path(data_root) if data_root else default_data_root(name)
    path = root / FILES[name]
    if not path.is_file():
        raise GvetoolError(
            f"{name}: missing {path}; expected {FILES[name]} and images/ in the data root "
            "(the Karpathy split files are distributed with NeuralTalk)"
        )
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise GvetoolError(f"{path} is not a Karpathy split file (no 'images' list)")
    parts: dict[str, tuple[list[str], list[list[str]], list[str]]] = {
        split: ([], [], []) for split in ("train", "val", "test")
    }
    for i, image in enumerate(data["images"]):
        try:
            split = SPLIT_OF[image["split"]]
            sentences = [s.get("raw") or " ".join(s["tokens"]) for s in image["sentences"]]
            relative = "/".join(p for p in (image.get("filepath"), image["filename"]) if p)
            image_id = str(image.get("cocoid", image.get("imgid", relative)))
        except (KeyError, TypeError) as exc:
            raise GvetoolError(f"{path}: images[{i}] is malformed (missing {exc})") from None
        ids, captions, files = parts[split]
        ids.append(image_id)
        captions.append(sentences)
        files.append(f"images/{relative}")
    splits = {key: Split(key, *value) for key, value in parts.items()}
    return Corpus(name=name, root=root, splits=splits, notes=["restval images are in train"])


def open_flickr8k(data_root: Path | None = None) -> Corpus:
    return open_karpathy("flickr8k", data_root)


def open_flickr30k(data_root: Path | None = None) -> Corpus:
    return open_karpathy("flickr30k", data_root)


def open_coco_karpathy(data_root: Path | None = None) -> Corpus:
    return open_karpathy("coco-karpathy", data_root)
