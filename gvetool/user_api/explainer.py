"""A trained run as a Python object: describe and explain dataset images or photos.

    ex = gvetool.load("runs/gve-cub-20261201-101500")
    ex.explain(["001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg"])
    ex.explain(images=["photo.jpg"], classes="Laysan Albatross")

Dataset images are named by id and read from the run's feature store (the dataset is
opened on first use, never for photos alone). Photos (files, PIL images, tensors) go
through the run's image encoder (:mod:`gvetool.data.photos`). Results are typed records.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gvetool.data.image_features import ImageEncoder, build_encoder
from gvetool.data.photos import (
    ImageInput,
    encode_images,
    label_of,
    looks_like_a_file,
    photo_encoder,
)
from gvetool.engine.generate import generate_from_features
from gvetool.engine.rundir import run_dir_of
from gvetool.evaluation.trained import (
    Loaded,
    SentenceReader,
    Trained,
    find_sentence_classifier,
    load_reader,
    load_trained,
    with_data,
)
from gvetool.utils.console import quiet_unless_asked
from gvetool.utils.errors import DataError, GvetoolError, UnknownNameError


@dataclass(frozen=True)
class Description:
    """A sentence the model generated for one image."""

    image: str  # the dataset id, the file path, or ``<Image 0>`` for an in-memory image
    sentence: str


@dataclass(frozen=True)
class Explanation:
    """Why an image shows a class, in the model's words.

    ``explained_class`` is the class the sentence was generated for (``None`` for a model
    that reads no class, e.g. LRCN); ``true_class`` is known for dataset images only;
    ``classifier_class`` is the class the run's sentence classifier reads in the sentence
    (``None`` where no classifier was found): the same as ``explained_class`` when the
    explanation is class-discriminative.
    """

    image: str
    sentence: str
    explained_class: str | None
    true_class: str | None
    classifier_class: str | None


@dataclass(frozen=True)
class PhotoExplanation:
    """A photo explained as one class, with the class ranking and, for a class-conditioned
    model, the counterfactual (``counter_class``: the runner-up in the first explanation).

    ``explained_class`` is the class chosen, else the top of ``ranking``; ``ranking`` lists
    every class with its probability, best first (empty where no sentence classifier was
    found); the counter fields are ``None`` for a model that reads no class.
    """

    image: str
    explained_class: str | None
    explanation: str
    counter_class: str | None
    counterfactual: str | None
    ranking: list[tuple[str, float]]


@dataclass(frozen=True)
class Counterfactual:
    """An image explained as its own class and as another one (the paper's
    counterfactual explanations: what would have to be seen for the other class)."""

    image: str
    true_class: str | None
    explanation: str
    counter_class: str
    counterfactual: str


class Explainer:
    """A captioning run loaded for describing and explaining images (:func:`load`)."""

    def __init__(
        self,
        trained: Trained,
        sc_ckpt: Path | None = None,
        batch_size: int = 64,
    ) -> None:
        self._trained = trained
        self._device = str(next(trained.model.parameters()).device)
        self._sc_ckpt = sc_ckpt
        self._batch_size = batch_size
        self._loaded: Loaded | None = None
        self._classes_of: dict[str, int] | None = None
        self._encoder: ImageEncoder | None = None

    def __repr__(self) -> str:
        return (
            f"Explainer(run={str(run_dir_of(self._trained.path))!r}, model={self.model!r}, "
            f"dataset={self.dataset!r}, classes={len(self.class_names)})"
        )

    @property
    def model(self) -> str:
        """The model's registered name (``gve``, ``lrcn``, ...)."""
        return str(self._trained.checkpoint["model"])

    @property
    def dataset(self) -> str:
        return self._trained.config.dataset

    @property
    def class_names(self) -> list[str]:
        return self._trained.class_names

    @property
    def class_conditioned(self) -> bool:
        """Whether the model reads the class it explains (so it can explain another)."""
        return self._trained.class_conditioned

    @property
    def encodes_photos(self) -> bool:
        """Whether this run's features can be computed for a photo (an image encoder)."""
        return self.why_no_photos is None

    @property
    def why_no_photos(self) -> str | None:
        """Why this run cannot explain a photo, in one line (``None``: it can)."""
        try:
            self._photo_encoder()
        except GvetoolError as exc:
            return str(exc)
        return None

    def has_image(self, image_id: str) -> bool:
        """Whether ``image_id`` is an image of the run's dataset (opens the dataset)."""
        return image_id in self._image_classes()

    @quiet_unless_asked
    def describe(
        self,
        image_ids: Sequence[str] = (),
        *,
        images: Sequence[ImageInput] = (),
        classes: str | Sequence[str] | None = None,
        beam: int = 1,
        max_len: int = 50,
    ) -> list[Description]:
        """The model's sentence for each image: dataset ids first, then ``images``.

        A class-conditioned model describes a dataset image as its true class, a photo as
        the class given in ``classes`` (one name for all, or one per image).
        """
        labels, sentences, *_ = self._generate(image_ids, images, classes, beam, max_len)
        return [Description(label, s) for label, s in zip(labels, sentences, strict=True)]

    @quiet_unless_asked
    def explain(
        self,
        image_ids: Sequence[str] = (),
        *,
        images: Sequence[ImageInput] = (),
        classes: str | Sequence[str] | None = None,
        beam: int = 1,
        max_len: int = 50,
    ) -> list[Explanation]:
        """Explain each image as its true class (dataset images) or as ``classes``."""
        labels, sentences, true, explained, _ = self._generate(
            image_ids, images, classes, beam, max_len
        )
        read = self._classifier_reading(sentences)
        names = self.class_names
        return [
            Explanation(
                label,
                sentence,
                _name(names, explained[i]) if self.class_conditioned else None,
                _name(names, true[i]),
                _name(names, int(read[i].argmax())) if read is not None else None,
            )
            for i, (label, sentence) in enumerate(zip(labels, sentences, strict=True))
        ]

    @quiet_unless_asked
    def counterfactual(
        self,
        image_ids: Sequence[str] = (),
        *,
        images: Sequence[ImageInput] = (),
        classes: str | Sequence[str] | None = None,
        counter_classes: str | Sequence[str] | None = None,
        beam: int = 1,
        max_len: int = 50,
    ) -> list[Counterfactual]:
        """Each image explained as its class and as ``counter_classes`` (default: the other
        class the run's sentence classifier finds most likely in the first explanation)."""
        if not self.class_conditioned:
            raise GvetoolError(
                f"counterfactuals need a class-conditioned model; '{self.model}' is not"
            )
        labels, sentences, true, explained, features = self._generate(
            image_ids, images, classes, beam, max_len
        )
        if counter_classes is not None:
            counter = self._class_ids(counter_classes, len(labels))
        else:
            read = self._classifier_reading(sentences)
            if read is None:
                raise GvetoolError(
                    "no sentence classifier found to choose the counter-classes; pass "
                    "counter_classes=..., or sc_ckpt=... to gvetool.load"
                )
            read[np.arange(len(labels)), explained] = -np.inf
            counter = read.argmax(axis=1)
        others = generate_from_features(
            self._trained.model,
            features,
            counter,
            self._trained.vocab,
            self._batch_size,
            max_len,
            beam,
            label="counterfactuals",
        )
        names = self.class_names
        return [
            Counterfactual(label, _name(names, true[i]), sentences[i], names[counter[i]], others[i])
            for i, label in enumerate(labels)
        ]

    @quiet_unless_asked
    def rank_classes(
        self, image_ids: Sequence[str] = (), *, images: Sequence[ImageInput] = (), max_len: int = 50
    ) -> list[list[tuple[str, float]]]:
        """Each image's classes, most likely first, with probabilities, as the run's sentence
        classifier reads the run's own sentences about the image.

        An unconditioned model (LRCN) writes one description, which the classifier reads.
        A class-conditioned model (GVE) explains the image as every class; the classifier's
        probabilities, averaged over those explanations, cancel what each explanation says
        because of its class and keep what the image makes every one of them say. No image
        classifier is involved: a run ranks classes with what it learnt, and nothing else.
        """
        reader = self._reader
        if reader is None:
            raise GvetoolError(
                "no sentence classifier found to rank the classes; pass sc_ckpt=... to "
                "gvetool.load (or --sc-ckpt), or name the class"
            )
        if isinstance(image_ids, str):
            image_ids = [image_ids]
        if isinstance(images, (str, Path)) or not isinstance(images, Sequence):
            images = [images]
        if images:
            self._photo_encoder()
        features = self._features(image_ids, images)
        names = self.class_names
        rankings = []
        for row in features:
            if self.class_conditioned:
                rows, classes = row.expand(len(names), *row.shape), np.arange(len(names))
            else:
                rows, classes = row.unsqueeze(0), np.zeros(1, dtype=np.int64)
            sentences = generate_from_features(
                self._trained.model,
                rows,
                classes,
                self._trained.vocab,
                self._batch_size,
                max_len,
                label="ranking classes",
            )
            probabilities = _softmax(reader.logits(sentences)).mean(axis=0)
            order = np.argsort(-probabilities, kind="stable")
            rankings.append([(names[i], float(probabilities[i])) for i in order])
        return rankings

    @quiet_unless_asked
    def explain_photo(
        self, image: ImageInput, class_name: str | None = None, max_len: int = 50
    ) -> PhotoExplanation:
        """One photo explained as ``class_name`` (default: the top of its ranking, see
        :meth:`rank_classes`), with the ranking and the counterfactual: what the explorer
        (``gvetool serve``) shows for an uploaded photo."""
        self._photo_encoder()  # a run that cannot encode photos says so before any work
        if class_name is not None and self.class_conditioned:
            class_name = self.class_names[class_index(class_name, self.class_names)]
        elif class_name is not None:
            raise GvetoolError(f"a class needs a class-conditioned model; '{self.model}' is not")
        ranking: list[tuple[str, float]] = []
        if self._classifier_path is not None or class_name is None:  # None: says what to do
            ranking = self.rank_classes(images=[image], max_len=max_len)[0]
        label = label_of(image, 0)
        if not self.class_conditioned:
            (described,) = self.describe(images=[image], max_len=max_len)
            top = ranking[0][0] if ranking else None
            return PhotoExplanation(label, top, described.sentence, None, None, ranking)
        chosen = class_name or ranking[0][0]
        if self._classifier_path is None:
            (explained,) = self.explain(images=[image], classes=chosen, max_len=max_len)
            return PhotoExplanation(label, chosen, explained.sentence, None, None, ranking)
        (pair,) = self.counterfactual(images=[image], classes=chosen, max_len=max_len)
        return PhotoExplanation(
            label, chosen, pair.explanation, pair.counter_class, pair.counterfactual, ranking
        )

    def _generate(
        self,
        image_ids: Sequence[str],
        images: Sequence[ImageInput],
        classes: str | Sequence[str] | None,
        beam: int,
        max_len: int,
    ) -> tuple[list[str], list[str], np.ndarray, np.ndarray, torch.Tensor]:
        """Labels, sentences, true class ids (-1: unknown), the class ids explained and the
        images' features (a counterfactual generates again from them)."""
        if isinstance(image_ids, str):
            image_ids = [image_ids]
        if isinstance(images, (str, Path)) or not isinstance(images, Sequence):
            images = [images]
        if beam < 1 or max_len < 1:
            raise GvetoolError(f"beam and max_len must be >= 1, got {beam} and {max_len}")
        if images:
            self._photo_encoder()  # a run that cannot encode photos says so first
        count = len(image_ids) + len(images)
        true = np.full(count, -1, dtype=np.int64)
        if image_ids:
            true[: len(image_ids)] = self._true_classes(image_ids)
        if classes is not None:
            if not self.class_conditioned:
                raise GvetoolError(
                    f"--class needs a class-conditioned model; '{self.model}' is not"
                )
            explained = self._class_ids(classes, count)
        elif self.class_conditioned and images:
            raise GvetoolError(
                "a photo has no known class: name the class to explain it as (classes=... "
                "in Python, --class on the command line)"
            )
        else:
            explained = true.copy()
        features = self._features(image_ids, images)
        sentences = generate_from_features(
            self._trained.model,
            features,
            explained,
            self._trained.vocab,
            self._batch_size,
            max_len,
            beam,
            label="explaining",
        )
        labels = [*image_ids, *(label_of(image, i) for i, image in enumerate(images))]
        return labels, sentences, true, explained, features

    def _features(self, image_ids: Sequence[str], images: Sequence[ImageInput]) -> torch.Tensor:
        parts = []
        if image_ids:
            store = self._dataset().images.store
            rows = store.rows(list(image_ids), what="images")
            parts.append(torch.from_numpy(np.ascontiguousarray(store.gather(rows))))
        if images:
            parts.append(encode_images(self._photo_encoder(), images, self._device))
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def _photo_encoder(self) -> ImageEncoder:
        if self._encoder is None:
            config = self._trained.config
            provider = build_encoder(config.encoder, **config.encoder_options())
            self._encoder = photo_encoder(provider, config.encoder, self.model)
        return self._encoder

    def _dataset(self) -> Loaded:
        if self._loaded is None:
            self._loaded = with_data(self._trained, "train", None, self._device)
        return self._loaded

    def _image_classes(self) -> dict[str, int]:
        """Each image id of the dataset -> its class id (-1 where the split has none)."""
        if self._classes_of is None:
            self._classes_of = {}
            for split in self._dataset().corpus.splits.values():
                ids = split.class_ids
                for n, image_id in enumerate(split.image_ids):
                    self._classes_of[image_id] = -1 if ids is None else int(ids[n])
        return self._classes_of

    def _true_classes(self, image_ids: Sequence[str]) -> np.ndarray:
        try:
            classes = self._image_classes()
        except DataError:  # no dataset here: a path-like id is a photo that is not there
            self._refuse_missing_files(image_ids)
            raise
        unknown = [i for i in image_ids if i not in classes]
        if unknown:
            self._refuse_missing_files(unknown)
            some = "1 image id is" if len(unknown) == 1 else f"{len(unknown)} image ids are"
            example = next(iter(classes), "?")
            raise DataError(
                f"{some} not in '{self.dataset}' ({', '.join(unknown[:3])}"
                f"{', ...' if len(unknown) > 3 else ''}); ids look like {example!r} "
                "(all of a split's are in predictions/<split>.json after gvetool eval)"
            )
        return np.array([classes[i] for i in image_ids], dtype=np.int64)

    def _refuse_missing_files(self, image_ids: Sequence[str]) -> None:
        """A given id that no image has and that looks like a file path (an image suffix,
        a folder) is a mistyped photo, said as such."""
        for image_id in image_ids:
            if looks_like_a_file(image_id) and not Path(image_id).exists():
                raise DataError(
                    f"missing image file {image_id} (nor is it an image id of '{self.dataset}')"
                )

    def _class_ids(self, classes: str | Sequence[str], count: int) -> np.ndarray:
        names = [classes] * count if isinstance(classes, str) else list(classes)
        if len(names) != count:
            raise GvetoolError(
                f"{len(names)} classes given for {count} images; give one, or one per image"
            )
        return np.array([class_index(n, self.class_names) for n in names], dtype=np.int64)

    def _classifier_reading(self, sentences: list[str]) -> np.ndarray | None:
        """The run's sentence classifier's logits for each sentence, if one is found."""
        reader = self._reader
        return reader.logits(sentences) if reader is not None and sentences else None

    @functools.cached_property
    def _reader(self) -> SentenceReader | None:
        """The sentence classifier, loaded once (an explorer reads sentences per request)."""
        found = self._classifier_path
        return load_reader(found) if found is not None else None

    @functools.cached_property
    def _classifier_path(self) -> Path | None:
        """The sentence classifier that reads explanations, searched for once."""
        return find_sentence_classifier(self._trained.path, self._trained, self._sc_ckpt)


@quiet_unless_asked
def load(
    path: str | Path,
    *,
    device: str = "cpu",
    data_root: str | Path | None = None,
    sc_ckpt: str | Path | None = None,
    batch_size: int = 64,
) -> Explainer:
    """Load a captioning run (its directory, ``best.pt`` or ``last.pt``) for explaining.

    ``data_root``: where its dataset is now (default: as trained); ``sc_ckpt``: the
    sentence classifier that reads the explanations (default: the one the run trained
    with, else the newest matching run beside it).
    """
    trained = load_trained(Path(path), Path(data_root) if data_root else None, device)
    return Explainer(trained, Path(sc_ckpt) if sc_ckpt else None, batch_size)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _name(names: list[str], index: int) -> str | None:
    return names[index] if names and index >= 0 else None


def _plain_name(name: str) -> str:
    """A class name without its number and underscores: ``002.Laysan_Albatross`` ->
    ``laysan albatross``."""
    head, dot, rest = name.partition(".")
    return (rest if dot and head.isdigit() else name).replace("_", " ").strip().lower()


def class_index(name: str, names: list[str]) -> int:
    """The index of class ``name``, also given without its number (``Laysan Albatross``)
    or as its number alone (``2`` or ``002``); an unknown name is refused with the
    closest ones."""
    if name in names:
        return names.index(name)
    if name.strip().isdigit():
        heads = [n.partition(".")[0] for n in names]
        numbered = [i for i, h in enumerate(heads) if h.isdigit() and int(h) == int(name)]
        if len(numbered) == 1:
            return numbered[0]
    plain = [_plain_name(n) for n in names]
    matches = [i for i, p in enumerate(plain) if p == _plain_name(name)]
    if len(matches) == 1:
        return matches[0]
    close = difflib.get_close_matches(_plain_name(name), plain, n=3, cutoff=0.6)
    hint = (
        "; did you mean " + " or ".join(repr(names[plain.index(c)]) for c in close) + "?"
        if close
        else f"; classes look like {names[0]!r}"
        if names
        else ""
    )
    raise UnknownNameError(f"unknown class {name!r}{hint}")
