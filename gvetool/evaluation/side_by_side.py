"""Several runs' sentences for the same images, joined by image: what people read and judge.

The explorer (``gvetool serve``) shows them next to each other and the human-evaluation
kit (``gvetool study``) pairs them. Each run describes the split once, greedily, and its
sentences carry the two flags a reader needs beside them: whether the sentence repeats a
phrase, and the class the independent judge (:mod:`gvetool.evaluation.judge`, trained on
the dataset's captions, never on a model's output) reads in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gvetool.engine.rundir import run_dir_of
from gvetool.evaluation.evaluate import Evaluation, evaluate
from gvetool.utils.errors import GvetoolError

# What a reader sees beside a sentence; both are cheap (no Java, no sentence classifier).
READER_METRICS = ("repetition", "judge")


@dataclass(frozen=True)
class Sentence:
    """One run's sentence for one image."""

    text: str
    repeats: bool  # some word trigram occurs twice
    judged_as: str | None  # the independent judge's class (None: the dataset has none)
    # A class-conditioned run's explanation of the image as the class its explanations of
    # the true class are most often taken for: (that class, the sentence); else None.
    counterfactual: tuple[str, str] | None = None


@dataclass(frozen=True)
class Image:
    """An image of the split, with what every run said of it."""

    id: str
    class_name: str | None
    path: Path
    references: tuple[str, ...]
    sentences: tuple[Sentence, ...]  # one per run, in the runs' order


@dataclass(frozen=True)
class SideBySide:
    """The runs (by display name) and the split's images with each run's sentence."""

    dataset: str
    split: str
    runs: tuple[str, ...]
    models: tuple[str, ...]
    checkpoints: tuple[Path, ...]
    images: tuple[Image, ...]

    @property
    def class_names(self) -> list[str]:
        """The classes that occur in the split, sorted."""
        return sorted({i.class_name for i in self.images if i.class_name is not None})


Describe = Callable[[Path], Evaluation]


def side_by_side(
    checkpoints: Sequence[Path],
    split: str = "test",
    data_root: Path | None = None,
    device: str = "cpu",
    describe: Describe | None = None,
) -> SideBySide:
    """Describe ``split`` with every checkpoint (a run directory or a ``.pt``) and join the
    sentences by image; runs of different datasets or images are refused in one line."""
    if not checkpoints:
        raise GvetoolError("give at least one run")
    describe = describe or (
        lambda path: evaluate(
            path, split, data_root=data_root, device=device, metrics=READER_METRICS
        )
    )
    evaluations = [describe(Path(path)) for path in checkpoints]
    first = evaluations[0]
    ids = [p["image_id"] for p in first.predictions]
    for path, other in zip(checkpoints[1:], evaluations[1:], strict=True):
        if other.dataset != first.dataset or [p["image_id"] for p in other.predictions] != ids:
            raise GvetoolError(
                f"{path} is a run of '{other.dataset}' and {checkpoints[0]} of "
                f"'{first.dataset}': runs shown side by side must describe the same images "
                "(the same dataset and split)"
            )
    images = tuple(
        Image(
            id=str(prediction["image_id"]),
            class_name=prediction.get("class"),
            path=first.image_paths[i],
            references=tuple(prediction.get("references") or ()),
            sentences=tuple(
                Sentence(
                    e.predictions[i]["caption"],
                    bool(e.predictions[i].get("repeats", False)),
                    e.predictions[i].get("judged_as"),
                    _counterfactual(e.predictions[i]),
                )
                for e in evaluations
            ),
        )
        for i, prediction in enumerate(first.predictions)
    )
    return SideBySide(
        first.dataset,
        split,
        run_names(checkpoints, [e.model for e in evaluations]),
        tuple(e.model for e in evaluations),
        tuple(Path(c) for c in checkpoints),
        images,
    )


def _counterfactual(prediction: dict) -> tuple[str, str] | None:
    other = prediction.get("counterfactual")
    return (str(other["class"]), str(other["caption"])) if isinstance(other, dict) else None


def run_names(checkpoints: Sequence[Path], models: Sequence[str]) -> tuple[str, ...]:
    """How pages name each run: its model (``gve``) where that is unique among them, else
    its run directory's name, numbered where even those repeat."""
    if len(set(models)) == len(models):
        return tuple(models)
    names = [run_dir_of(Path(c)).name for c in checkpoints]
    return tuple(
        name if names.count(name) == 1 else f"{name} ({n + 1})" for n, name in enumerate(names)
    )
