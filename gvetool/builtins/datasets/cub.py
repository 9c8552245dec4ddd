"""CUB-200-2011 as released with "Generating Visual Explanations" (Hendricks et al.).

Layout of a data root, as distributed::

    descriptions_bird.{train,val,test}.fg.json  COCO-format captions; image ids look like
                                                001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg
    CUB_feature_dict.p   pickle (protocol 2, latin1): image id -> 8192-d numpy array
    CUB_label_dict.p     pickle: image id -> 1-based class id
    classes.txt          "1 001.Black_footed_Albatross" per line
    train.txt val.txt test.txt   image ids, one per line
    images/<image id>    optional: the CUB_200_2011 images, for training from pixels
    cub_0917_5cap.tsv    optional: raw descriptions, turned into the json files by
                         ``gvetool data prepare cub``

The pickles are read with the restricted unpickler: they are plain data, and anything
else in them is refused before it runs.
"""

from __future__ import annotations

import csv
import io
import reprlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gvetool.builtins.datasets.captions_json import read_captions, write_captions
from gvetool.data.corpus import Corpus, Split
from gvetool.data.download import Resource, download_all, drive_resource
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import read_text
from gvetool.utils.paths import default_data_root
from gvetool.utils.safe_pickle import load_pickle

SPLITS = ("train", "val", "test")
FEATURES_FILE = "CUB_feature_dict.p"
LABELS_FILE = "CUB_label_dict.p"
CLASSES_FILE = "classes.txt"
RAW_TSV = "cub_0917_5cap.tsv"
IMAGES_DIR = "images"
LAYOUT = (
    "expected descriptions_bird.{train,val,test}.fg.json, CUB_feature_dict.p, "
    "CUB_label_dict.p, classes.txt, {train,val,test}.txt (and optionally images/)"
)
# The Caltech data repository's record of CUB-200-2011 and the archive's published MD5.
IMAGES_ARCHIVE = Resource(
    "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
    extract=True,
    md5="97eceeb196236b17998738112f37df78",
)
# The GVE release, as its authors share it on Google Drive (the original's setup script).
RELEASE = (
    IMAGES_ARCHIVE,
    drive_resource("1RHBLIo7sp8nhKjX0NQaGLaA-0ChYIunR", "data.zip", extract=True),
    drive_resource(
        "1O5hEl7BYP0o1sYJONkPFbp9T-aVrNQZ0", "cider_scores.zip", extract=True, into="cider_scores"
    ),
)
RELEASE_FILES_NOTE = (
    "they come with the release of 'Generating Visual Explanations' (Hendricks et al., "
    "2016) that `gvetool data download cub` fetches; or place them by hand in"
)
HOW_TO_GET = "get it with `gvetool data download cub` or make one with `gvetool data synth DIR`"


def descriptions_file(split: str) -> str:
    return f"descriptions_bird.{split}.fg.json"


def split_list_file(split: str) -> str:
    return f"{split}.txt"


def required_files() -> list[str]:
    return (
        [descriptions_file(s) for s in SPLITS]
        + [FEATURES_FILE, LABELS_FILE, CLASSES_FILE]
        + [split_list_file(s) for s in SPLITS]
    )


@dataclass(frozen=True)
class PickleFeatures:
    """The release's feature pickle, as a :class:`~gvetool.data.corpus.FeatureSource`."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def fingerprint(self) -> str:
        stat = self.path.stat()
        return f"{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def read(self) -> dict[str, np.ndarray]:
        data = load_pickle(self.path)
        if not isinstance(data, dict):
            raise GvetoolError(f"{self.path} should hold a dict image id -> feature vector")
        return data


def read_classes(path: Path) -> list[str]:
    """Class names from ``classes.txt``, checking the ids run 1..N in order."""
    names = []
    lines = read_text(path, f"; {LAYOUT}").splitlines()
    for number, line in enumerate((ln for ln in lines if ln.strip()), start=1):
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != number:
            raise GvetoolError(
                f"{path}: line {number} should be '{number} <class name>', got {line!r}"
            )
        names.append(parts[1].strip())
    if not names:
        raise GvetoolError(f"{path} lists no classes")
    return names


def read_split_list(path: Path) -> list[str]:
    """Image ids of a split list (last whitespace-separated field of each line)."""
    return [line.split()[-1] for line in read_text(path).splitlines() if line.strip()]


def read_labels(path: Path, num_classes: int) -> dict[str, int]:
    """0-based class ids by image id, refusing ids outside 1..num_classes."""
    raw = load_pickle(path)
    if not isinstance(raw, dict):
        raise GvetoolError(f"{path} should hold a dict image id -> class id")
    labels, bad = {}, []
    for image_id, value in raw.items():
        try:
            label = int(value)
        except (TypeError, ValueError):
            label = -1
        if not 1 <= label <= num_classes:
            bad.append(f"{_shown(image_id)}: {_shown(value)}")
        labels[str(image_id)] = label - 1
    if bad:
        raise GvetoolError(
            f"{path}: {len(bad)} label ids outside 1..{num_classes} (classes.txt has "
            f"{num_classes} classes); first: {', '.join(bad[:3])}"
        )
    return labels


def _shown(value: object) -> str:
    """A bounded repr, also for an integer too long to print (Python refuses those)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        return reprlib.repr(value)
    except ValueError:
        return f"a {type(value).__name__} too large to show"


def missing_files(root: Path) -> list[str]:
    return [name for name in required_files() if not (root / name).is_file()]


def open_cub(data_root: Path | None = None, name: str = "cub") -> Corpus:
    """Load the CUB release at ``data_root`` (default: the gvetool data dir)."""
    root = Path(data_root) if data_root else default_data_root(name)
    if not root.is_dir():
        raise GvetoolError(f"{name} data root {root} does not exist; {HOW_TO_GET}")
    missing = missing_files(root)
    if missing:
        raise GvetoolError(
            f"{name} data root {root} is missing {', '.join(missing)}; {LAYOUT}; {HOW_TO_GET}"
        )
    class_names = read_classes(root / CLASSES_FILE)
    labels = read_labels(root / LABELS_FILE, len(class_names))
    splits = {}
    for split in SPLITS:
        path = root / descriptions_file(split)
        image_ids, captions, _ = read_captions(path)
        unlabelled = [i for i in image_ids if i not in labels]
        if unlabelled:
            raise GvetoolError(
                f"{path}: {len(unlabelled)} images have no label in {LABELS_FILE} "
                f"(first: {', '.join(unlabelled[:3])})"
            )
        splits[split] = Split(
            name=split,
            image_ids=image_ids,
            captions=captions,
            image_files=[f"{IMAGES_DIR}/{i}" for i in image_ids],
            class_ids=np.array([labels[i] for i in image_ids], dtype=np.int64),
        )
    return Corpus(
        name=name,
        root=root,
        splits=splits,
        class_names=class_names,
        features=PickleFeatures(root / FEATURES_FILE),
    )


def _image_id_from_path(path: str) -> str:
    """``.../001.Class/Class_0001_1.jpg`` -> ``001.Class/Class_0001_1.jpg``."""
    parts = path.replace("\\", "/").rstrip("/").split("/")
    return "/".join(parts[-2:])


def prepare_cub(data_root: Path) -> dict[str, int]:
    """Turn the raw ``cub_0917_5cap.tsv`` into ``descriptions_bird.*.fg.json``.

    Rows are tab-separated: image path in the next-to-last column, description in the
    last; rows whose seventh-from-last field is non-empty (rejected work) are skipped.
    Splits come from ``{train,val,test}.txt``. Returns caption counts per split.
    """
    tsv = data_root / RAW_TSV
    if not tsv.is_file():
        raise GvetoolError(f"missing file {tsv}; it comes with the GVE release of CUB")
    membership: dict[str, str] = {}
    for split in SPLITS:
        path = data_root / split_list_file(split)
        if not path.is_file():
            raise GvetoolError(f"missing file {path}; it says which images are in {split}")
        membership.update(dict.fromkeys(read_split_list(path), split))
    by_split: dict[str, dict[str, list[str]]] = {split: {} for split in SPLITS}
    skipped = short = unknown = 0
    csv.field_size_limit(sys.maxsize)
    rows = csv.reader(
        io.StringIO(read_text(tsv), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    for row in rows:
        if len(row) < 7:
            short += 1
            continue
        if row[-7].strip():
            skipped += 1
            continue
        image_id, text = _image_id_from_path(row[-2]), row[-1].strip()
        split = membership.get(image_id)
        if split is None:
            unknown += 1
            continue
        by_split[split].setdefault(image_id, []).append(text)
    if short:
        console.warn(f"{tsv}: {short} rows with fewer than 7 columns were ignored")
    if unknown:
        console.warn(f"{tsv}: {unknown} descriptions of images in no split list were ignored")
    counts = {}
    for split, captions in by_split.items():
        ids = list(captions)
        write_captions(
            data_root / descriptions_file(split),
            ids,
            [captions[i] for i in ids],
            ids,
            description=f"CUB descriptions ({split}), prepared by gvetool from {RAW_TSV}",
        )
        counts[split] = sum(len(c) for c in captions.values())
    counts["skipped"] = skipped
    return counts


def download_cub(data_root: Path | None = None, mirror: str | None = None) -> None:
    """Fetch everything ``gvetool train gve --dataset cub`` needs, as the original's setup
    script does: the CUB_200_2011 images and class list, the GVE release (features,
    labels, raw descriptions, splits) and its CIDEr score files; then lay them out and
    build the description json files."""
    root = Path(data_root) if data_root else default_data_root("cub")
    download_all(list(RELEASE), root, mirror)
    _lay_out(root)
    if not all((root / descriptions_file(s)).is_file() for s in SPLITS):
        counts = prepare_cub(root)
        console.err().print(f"prepared the descriptions: {counts}", highlight=False)
    missing = missing_files(root)
    if missing:
        console.warn(f"still missing {', '.join(missing)}: {RELEASE_FILES_NOTE} {root}")


def _lay_out(root: Path) -> None:
    """Move the release's files from wherever their archives put them into ``root``.

    The GVE release trains on ``train_noCub.txt`` (its training images minus those in the
    ImageNet-pretrained CNN's data), which becomes ``train.txt``; the class list and the
    images come from the CUB_200_2011 archive.
    """
    wanted = {
        FEATURES_FILE: FEATURES_FILE,
        LABELS_FILE: LABELS_FILE,
        RAW_TSV: RAW_TSV,
        "train_noCub.txt": "train.txt",
        "val.txt": "val.txt",
        "test.txt": "test.txt",
        CLASSES_FILE: CLASSES_FILE,
    }
    for found in sorted(root.rglob("*"), key=lambda p: len(p.parts)):
        target = wanted.get(found.name)
        if target and found.is_file() and found.parent != root and not (root / target).exists():
            found.rename(root / target)
    extracted = root / "CUB_200_2011" / IMAGES_DIR
    if extracted.is_dir() and not (root / IMAGES_DIR).exists():
        extracted.rename(root / IMAGES_DIR)


def open_cub1(data_root: Path | None = None) -> Corpus:
    """Part 1 of the default class split of CUB (a view: same files, same features)."""
    from gvetool.data.class_split import default_part

    return default_part(open_cub(data_root), 1, "cub1")


def open_cub2(data_root: Path | None = None) -> Corpus:
    """Part 2 of the default class split of CUB."""
    from gvetool.data.class_split import default_part

    return default_part(open_cub(data_root), 2, "cub2")
